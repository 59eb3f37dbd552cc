"""The backend registry: where a sweep's trials run, named like every other choice. Adding a
backend is one entry here and its module (``connect(spec, address)``, ``use_gpu(spec)`` and
``run(spec, trials, *, address, max_concurrent, verbose)``), imported only when a sweep runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from aesweep.config.registry import Registry


@dataclass(frozen=True)
class BackendKind:
    """What a backend is, Ray-free: whether it joins a Ray cluster (``--address`` applies)."""

    description: str
    joins_ray: bool

    def __repr__(self) -> str:
        return f"BackendKind({self.description!r})"


BACKENDS: Registry[BackendKind] = Registry("backend")
BACKENDS.add(
    "inline",
    BackendKind("trials one by one in this process, no Ray (--inline)", joins_ray=False),
    implementation="aesweep.sweeps.backends.inline:InlineBackend",
)
BACKENDS.add(
    "tune",
    BackendKind("Ray Tune trials on a new single-node Ray or a cluster", joins_ray=True),
    implementation="aesweep.sweeps.backends.tune:TuneBackend",
)


def backend_name(inline: bool) -> str:
    """The backend ``aesweep run`` picks: ``--inline`` or Ray Tune."""
    return "inline" if inline else "tune"
