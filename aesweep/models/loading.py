"""Build a family's torch implementation from its config (through the registry)."""

from __future__ import annotations

from torch import nn

from aesweep.config.models import MODELS, ModelConfig
from aesweep.data.base import TensorDataset
from aesweep.models.base import AutoencoderModel


def build_model(cfg: ModelConfig, data: TensorDataset) -> nn.Module:
    """The family's network for ``data``'s sample shape (an :class:`AutoencoderModel` for the
    stage-1 families, bound to the dataset; the RSR generator family is a bare ``nn.Module``)."""
    model: nn.Module = MODELS.load(cfg.family)(cfg, data.sample_shape, is_image=data.is_image)
    if isinstance(model, AutoencoderModel):
        model.bind_data(data)
    return model


def build_autoencoder(cfg: ModelConfig, data: TensorDataset) -> AutoencoderModel:
    """A stage-1 family's :class:`AutoencoderModel` (raises for a family that is not one)."""
    model = build_model(cfg, data)
    if not isinstance(model, AutoencoderModel):
        raise TypeError(f"{cfg.family} is not an autoencoder family")
    return model
