"""The body of the actor that holds a submission's payloads
(:class:`aesweep.sweeps.backends.tune.PayloadShelf`): a plain class of its own module, so the
actor's process imports nothing else of aesweep."""

from __future__ import annotations


class Shelf:
    """Unit id -> its pickled payload; one lookup per Ray Tune trial."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def get(self, unit: str) -> bytes:
        return self.blobs[unit]
