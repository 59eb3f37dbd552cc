"""The trials of an Optuna search are not known before the run: :class:`SampledTrials` holds
what every one of them shares (the spec's fixed fields and entries) and resolves the
:class:`TrialConfig` (and so its id, the same hash as a planned trial's) of the values Ray Tune
sampled. The driver and the trial function both call it, so they agree on the trial id.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from aesweep.config.base import StrictConfig
from aesweep.config.trial import TrialConfig

SECTIONS = ("model", "strategy", "optimizer")
"""The sections whose sweepable fields a search samples; a key of the space is
``<section>.<field alias>`` (``optimizer.lr``, ``model.lambda``)."""


class SampledTrials(StrictConfig):
    """One data x model x strategy entry of a spec with its sampled fields left out."""

    sweep: str
    base: dict[str, Any] = Field(
        description="the resolved config's sections (data, model, strategy, optimizer, epochs, "
        "seed, evaluation, checkpoint, compute), sampled fields left out"
    )

    def trial(self, values: dict[str, Any]) -> TrialConfig:
        """The trial of the sampled ``values`` (``section.field`` -> value), with its id."""
        body = {k: dict(v) if isinstance(v, dict) else v for k, v in self.base.items()}
        for key, value in values.items():
            section, _, name = key.partition(".")
            if section not in SECTIONS or not name:
                raise KeyError(f"{key!r} is no sampled field (section.field)")
            body[section][name] = value
        return TrialConfig.model_validate({"trial_id": "", "sweep": self.sweep, **body}).with_id()


RUN_KEY = "aesweep_run_id"
"""The key of a sampled trial's Tune config that holds its child run, opened by the driver."""
RESUME_KEY = "aesweep_resume_from"
"""... and the checkpoint it resumes from (None: none)."""
FINISHED_KEY = "aesweep_finished"
"""... and whether that run already finished (the searcher suggested a finished trial again)."""


class SearchPayload(StrictConfig):
    """What the trial function of an Optuna search receives besides its Tune config (the
    sampled values and the child run the driver opened for them: :data:`RUN_KEY`)."""

    sampled: SampledTrials
    tracking_uri: str
    experiment: str
    parent_run_id: str
    storage: str = Field(description="Ray Tune's storage, absolute (checkpoints by trial id)")
    threads: Annotated[int, Field(gt=0)] = 1
    use_gpu: bool = False
    rank_metric: str
    rank_mode: Literal["min", "max"] = "min"
    keys: list[str] = Field(description="the sampled keys of Tune's config (section.field)")
    workdir: str = Field(description="where the spec was submitted: relative data locations")
    system_metrics_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="seconds between samples of the node's CPU, memory, GPU (None: off)"
    )
