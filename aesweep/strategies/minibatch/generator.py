"""Minibatch training of the data-space generator: n generated vs n real samples per step."""

from __future__ import annotations

import torch

from aesweep.data.base import TrainSplit
from aesweep.distances import random_directions, sliced_wasserstein
from aesweep.models.generator.model import Generator
from aesweep.strategies.base import GeneratorStrategy, real_sample
from aesweep.strategies.minibatch.config import MinibatchConfig


class MinibatchGenerator(GeneratorStrategy):
    """n generated vs n real samples; θ = 1 for 1-D data, else fresh random directions."""

    cfg: MinibatchConfig

    def step(
        self, gen: Generator, optimizer: torch.optim.Optimizer, train: TrainSplit
    ) -> dict[str, torch.Tensor]:
        n = self.cfg.batch_size
        noise, real = gen.sample_noise(n), real_sample(train, n)
        if self.dim == 1:
            theta = torch.ones(1, 1, device=real.device)
        else:
            theta = random_directions(self.model_cfg.projections, self.dim, device=real.device)
        with self.stats.collecting():
            fake = gen(noise)
        loss = sliced_wasserstein(
            fake.flatten(1), real.flatten(1), projections=theta, p=self.model_cfg.power
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self.stats.update()
        return {"loss": loss.detach()}
