"""Shared set-up of model tests: a small WAE-GAN on digits with its autoencoder optimiser."""

from __future__ import annotations

import torch

from aesweep.catalog import MODELS
from aesweep.data.base import TensorDataset
from aesweep.data.config import DigitsConfig
from aesweep.data.loading import load_dataset
from aesweep.models.base import AutoencoderModel
from aesweep.models.loading import build_autoencoder


def wae_gan(
    seed: int = 0,
) -> tuple[TensorDataset, AutoencoderModel, torch.optim.Optimizer]:
    """Digits (256 train, 64 test), a seeded WAE-GAN (latent 8, width 1/4) and its Adam."""
    torch.manual_seed(seed)
    data = load_dataset(DigitsConfig(train_size=256, test_size=64))
    cfg = MODELS.get("wae_gan").model_validate(
        {
            "family": "wae_gan",
            "latent_dim": 8,
            "width": 0.25,
            "discriminator": {"width": 64, "lr": 2e-3},
        }
    )
    model = build_autoencoder(cfg, data)
    optimizer = torch.optim.Adam(model.autoencoder_parameters(), lr=1e-3, betas=(0.5, 0.999))
    return data, model, optimizer
