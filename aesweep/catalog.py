"""Every component config, imported so that it registers (torch-free).

A model family is one folder ``aesweep/models/<name>/`` and a strategy one folder
``aesweep/strategies/<name>/``; each holds a ``config.py`` that registers its config class.
Importing this module imports every such ``config.py`` (found by walking the two packages) and
the datasets' configs, so the registries below are complete.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from aesweep.config.data import DATASETS
from aesweep.config.models import MODELS
from aesweep.config.strategies import STRATEGIES

COMPONENT_PACKAGES = ("aesweep.models", "aesweep.strategies")


def _import_configs() -> None:
    importlib.import_module("aesweep.data.config")
    for package in COMPONENT_PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.iter_modules(root.__path__):
            name = f"{package}.{info.name}.config"
            if info.ispkg and importlib.util.find_spec(name) is not None:
                importlib.import_module(name)


_import_configs()

__all__ = ["DATASETS", "MODELS", "STRATEGIES"]
