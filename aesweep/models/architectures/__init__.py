"""The papers' networks, by name (registered lazily in :mod:`aesweep.models.config`)."""
