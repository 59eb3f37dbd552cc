"""Where a trial's per-evaluation results go besides MLflow: Ray Tune, or nowhere (inline)."""

from __future__ import annotations

import math
from typing import Any, Protocol

from aesweep.trainables.checkpoints import InlineCheckpoints


class Reporter(Protocol):
    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None: ...

    def restore_dir(self) -> Any:
        """Ray Tune's checkpoint of this trial when Tune retries it (``path``,
        ``filesystem``), else None."""
        ...

    def storage_filesystem(self) -> Any:
        """The filesystem Ray Tune writes this trial's checkpoints to (the driver's, with its
        credentials), else None: a storage URI is then opened from this environment."""
        ...

    def node(self) -> str | None:
        """The id of the cluster node this trial runs on (None: no cluster)."""
        ...


class InlineReporter:
    """The inline runner's: keeps the history in memory and checkpoints in Ray's layout."""

    def __init__(self, checkpoints: InlineCheckpoints | None = None) -> None:
        self.history: list[dict[str, float]] = []
        self.checkpoints = checkpoints

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        self.history.append(dict(metrics))
        if checkpoint_dir is not None and self.checkpoints is not None:
            self.checkpoints.persist(checkpoint_dir, int(metrics["epoch"]))

    def restore_dir(self) -> None:
        return None

    def storage_filesystem(self) -> None:
        return None

    def node(self) -> None:
        return None


class Fresh:
    """The reporter of a trial that starts over from epoch 0: ``inner``'s, without the
    checkpoint Ray restored (the one that could not be used)."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        self.inner.report(metrics, checkpoint_dir)

    def restore_dir(self) -> None:
        return None

    def storage_filesystem(self) -> Any:
        return self.inner.storage_filesystem()

    def node(self) -> str | None:
        return self.inner.node()


def ranked(
    metrics: dict[str, float], metric: str, mode: str, last: float | None
) -> dict[str, float]:
    """``metrics`` as a scheduler or searcher must see them: ``metric`` always present (a
    result without it is silently continued by ASHA, and refused by Tune's metric check) — the
    last evaluated value on an epoch without evaluation, the worst before any — and never NaN
    (a NaN never loses a comparison): a diverged trial's is +inf (min) or -inf (max)."""
    worst = math.inf if mode == "min" else -math.inf
    out = dict(metrics)
    value = out.get(metric, last)
    if value is None or not math.isfinite(value) or out.get("diverged", 0.0) == 1.0:
        value = worst
    out[metric] = value
    return out


class TuneReporter:
    """Inside a Ray Tune trial: ``tune.report`` with an optional checkpoint directory; with a
    ``rank`` (metric, mode), every report carries the metric (:func:`ranked`)."""

    def __init__(self, rank: tuple[str, str] | None = None) -> None:
        self.rank = rank
        self._last: float | None = None

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        from ray import tune

        if self.rank is not None:
            metric, mode = self.rank
            if metric in metrics:
                self._last = metrics[metric]
            metrics = ranked(metrics, metric, mode, self._last)
        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(metrics, checkpoint=checkpoint)

    def restore_dir(self) -> Any:
        from ray import tune

        return tune.get_checkpoint()

    def storage_filesystem(self) -> Any:
        from ray import tune

        try:
            return tune.get_context().get_storage().storage_filesystem
        except Exception:  # a developer API of Ray's: without it, the URI is opened here
            return None

    def node(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())
