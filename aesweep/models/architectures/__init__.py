"""The papers' networks, by name (registered in :mod:`aesweep.config.models`)."""
