"""CWAE: rec + λ log cw(Z) (CWAE paper; log as in the authors' code)."""

from __future__ import annotations

import torch

from aesweep.distances import cw_normality
from aesweep.models.base import AutoencoderModel, Draws


class CWAE(AutoencoderModel):
    def latent_loss(self, z_set: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        return torch.log(cw_normality(z_set))
