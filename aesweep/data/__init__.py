"""Datasets: configs in :mod:`aesweep.data.config` (no torch), loaders one module each."""
