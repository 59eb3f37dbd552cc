"""Build a family's torch implementation from its config (through the config registry)."""

from __future__ import annotations

import importlib

from aesweep.data.base import TensorDataset
from aesweep.models.base import AutoencoderModel
from aesweep.models.config import ModelConfig


def build_model(cfg: ModelConfig, data: TensorDataset) -> AutoencoderModel:
    module, _, cls = cfg.implementation.partition(":")
    impl = getattr(importlib.import_module(module), cls)
    model = impl(cfg, data.sample_shape, is_image=data.is_image)
    if isinstance(model, AutoencoderModel):  # the RSR generator family is a bare nn.Module
        model.bind_data(data)
    return model
