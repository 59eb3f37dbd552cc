"""Where a trial's per-evaluation results go besides MLflow: Ray Tune, or nowhere (inline)."""

from __future__ import annotations

from typing import Any, Protocol

from aesweep.trainables.checkpoints import InlineCheckpoints


class Reporter(Protocol):
    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None: ...

    def restore_dir(self) -> Any: ...

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

    def node(self) -> None:
        return None


class TuneReporter:
    """Inside a Ray Tune trial: ``tune.report`` with an optional checkpoint directory."""

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        from ray import tune

        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(metrics, checkpoint=checkpoint)

    def restore_dir(self) -> Any:
        from ray import tune

        return tune.get_checkpoint()

    def node(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())
