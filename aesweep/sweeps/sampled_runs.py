"""The driver owns every child run of an Optuna search too: a searcher that wraps Ray Tune's
``OptunaSearch`` and, for each configuration it suggests (in the driver, before Tune starts
the trial), finds or creates the trial's child run and the checkpoint it resumes from, carried
in the trial's config (:data:`aesweep.config.sampled.RUN_KEY`). Imported only when such a
search runs (it imports Ray)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.tune.search import Searcher


class DriverRuns(Searcher):
    """``inner``'s suggestions, each with what ``open_run(values)`` returns merged in; every
    other call goes to ``inner`` (its metric, mode, state and the results it learns from)."""

    def __init__(self, inner: Searcher, open_run: Callable[[dict[str, Any]], dict[str, Any]]):
        super().__init__()
        self.inner, self.open_run = inner, open_run

    @property
    def metric(self) -> str:
        return str(self.inner.metric)

    @property
    def mode(self) -> str:
        return str(self.inner.mode)

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        return bool(self.inner.set_search_properties(metric, mode, config, **spec))

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return bool(self.inner.set_max_concurrency(max_concurrent))

    def suggest(self, trial_id: str) -> dict | None:
        config = self.inner.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            return config
        return {**config, **self.open_run(dict(config))}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        self.inner.on_trial_complete(trial_id, result=result, error=error)

    def add_evaluated_point(self, *args: Any, **kwargs: Any) -> None:
        self.inner.add_evaluated_point(*args, **kwargs)

    def get_state(self) -> dict:
        return dict(self.inner.get_state())

    def set_state(self, state: dict) -> None:
        self.inner.set_state(state)

    def save(self, checkpoint_path: str) -> None:
        self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)
