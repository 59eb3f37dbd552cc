"""Classical minibatch training: n images per step, the distance on their n latents."""

from __future__ import annotations

from typing import Any

from aesweep.data.base import TrainSplit
from aesweep.models.base import AutoencoderModel
from aesweep.strategies.base import SetStrategy
from aesweep.strategies.minibatch.config import MinibatchConfig


class Minibatch(SetStrategy):
    """Full batches of ``batch_size`` images in a fresh random order each epoch (the last
    partial one is dropped, so every latent distance sees exactly ``batch_size`` rows); F
    sees the batch's latents. No state."""

    cfg: MinibatchConfig

    def __init__(
        self, cfg: Any, model: AutoencoderModel, train: TrainSplit, *, epochs: int | None = None
    ) -> None:
        super().__init__(cfg, model, train, epochs=epochs)
        self.fresh = self.set_rows = cfg.batch_size
