"""Run-Sort-ReRun for the data-space generator (RSR Algorithms 1 and 2 in data space, the toy
of Figure 1): b generated vs b real samples per step, run and rerun in chunks of m."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from aesweep.data.base import TrainSplit
from aesweep.distances import random_directions
from aesweep.models.generator.model import Generator
from aesweep.strategies.base import GeneratorStrategy, real_sample
from aesweep.strategies.run_sort_rerun.config import RunSortReRunConfig
from aesweep.strategies.run_sort_rerun.strategy import (
    next_directions,
    rerun_pass,
    run_pass,
    sort_targets,
)


class RunSortReRunGenerator(GeneratorStrategy):
    """b generated vs b real samples, run and rerun in chunks of m (RSR Algorithms 1, 2)."""

    cfg: RunSortReRunConfig

    def __init__(
        self,
        cfg: RunSortReRunConfig,
        model: Generator,
        train: TrainSplit,
        *,
        epochs: int | None = None,
        after_step: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(cfg, model, train, epochs=epochs, after_step=after_step)
        self.directions: torch.Tensor | None = None

    def step(
        self, gen: Generator, optimizer: torch.optim.Optimizer, train: TrainSplit
    ) -> dict[str, torch.Tensor]:
        cfg, power, stats = self.cfg, self.model_cfg.power, self.stats
        device = train.device
        store = torch.device("cpu") if cfg.store == "cpu" else device
        noise = gen.sample_noise(cfg.effective_batch)
        real = real_sample(train, cfg.effective_batch).flatten(1).to(store)
        with stats.collecting():
            fake = run_pass(gen, noise, cfg.chunk, store)
        if self.directions is None:
            self.directions = random_directions(cfg.projections, self.dim, device=store)
        directions = self.directions.to(store)
        matched, per_direction = sort_targets(fake, real, directions, power)
        optimizer.zero_grad(set_to_none=True)
        with stats.frozen():
            rerun_pass(
                lambda inputs, rows: (gen(inputs), None),
                noise,
                matched,
                directions.to(device),
                cfg.chunk,
                power=power,
            )
        optimizer.step()
        stats.update()
        self.directions = next_directions(directions, per_direction, cfg.keep, real, fake)
        return {"loss": per_direction.mean().to(device)}

    def state_dict(self) -> dict[str, Any]:
        return {} if self.directions is None else {"directions": self.directions.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "directions" in state:
            self.directions = state["directions"]
