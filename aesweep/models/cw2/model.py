"""CW²: log cw(X̂, X; γ) + λ log cw(Z) (LCW paper, "CW² model"; REFERENCE: Models).

The family's reconstruction term is a distance between the set of images and the set of their
reconstructions, not a per-image sum: :meth:`rec_loss` is overridden, and the per-image form
(:meth:`rec_from_sums`, used only by Run-Sort-ReRun, which plan.py never pairs with a CW
distance) does not exist (the config has no ``reconstruction`` field).
"""

from __future__ import annotations

import torch

from aesweep.data.base import TensorDataset
from aesweep.distances import cw_distance, silverman_gamma
from aesweep.models.cw2.config import CW2Config
from aesweep.models.cwae.model import CWAE


class CW2(CWAE):
    cfg: CW2Config
    pixel_std: float | None = None

    def bind_data(self, data: TensorDataset) -> None:
        self.pixel_std = data.pixel_std

    def bandwidth(self, x: torch.Tensor, x_hat: torch.Tensor) -> float:
        """γ of cw(X̂, X) for a batch of N = len(x) images (Silverman, LCW paper)."""
        if self.cfg.gamma == "batch":
            sigma = float(torch.cat([x_hat.detach(), x]).std())
        elif self.pixel_std is not None:
            sigma = self.pixel_std
        else:
            raise RuntimeError("CW² with gamma: fixed needs bind_data(dataset) before training")
        return silverman_gamma(sigma, len(x))

    def rec_loss(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return torch.log(cw_distance(x_hat, x, gamma=self.bandwidth(x, x_hat)))
