"""aesweep: sweeps of distribution-matching autoencoders on Ray Tune, tracked in MLflow."""

__version__ = "0.1.0"
