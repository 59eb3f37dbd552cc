"""Classical minibatch training: n images per step, the distance on their n latents."""

from __future__ import annotations

import torch

from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel
from aesweep.strategies.base import StepSums, Strategy, epoch_batches, optimizer_step
from aesweep.strategies.minibatch.config import MinibatchConfig


class Minibatch(Strategy):
    """Shuffles the training tensor each epoch and takes full batches (the last partial one is
    dropped, so every latent distance sees exactly ``batch_size`` rows)."""

    cfg: MinibatchConfig

    def train_epoch(
        self,
        model: AutoencoderModel,
        optimizer: torch.optim.Optimizer,
        train: TrainSplit,
        epoch: int,
    ) -> StepSums:
        sums = StepSums()
        for x in epoch_batches(train, self.cfg.batch_size):
            z = model.encode(x)
            sums.add(optimizer_step(model, optimizer, x, z, z))
        return sums
