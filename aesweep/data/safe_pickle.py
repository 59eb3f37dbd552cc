"""Pickles of plain data read without running code: only the numpy array constructors and the
bytes helper a data batch needs may be named, so a file planted where a spec points cannot make
``pickle`` call ``os.system`` or anything else (CIFAR-10's python batches are pickles)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

ALLOWED = frozenset(
    {
        # ndarray.__reduce__ (protocols 0-4): _reconstruct(ndarray, shape, dtype), __setstate__
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        # ndarray.__reduce_ex__ (protocol 5): _frombuffer(buffer, dtype, shape, order)
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # bytes written by Python 3 at protocol 2: _codecs.encode(text, "latin1")
        ("_codecs", "encode"),
    }
)
"""The globals a pickled dict of numpy arrays, lists, numbers and bytes refers to, as Python
2's cPickle wrote CIFAR-10's batches and as Python 3 writes them at any protocol."""

_NUMPY_CORE = "numpy._core" if hasattr(np, "_core") else "numpy.core"


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names something besides plain data; nothing it names was called."""


class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` resolves only the globals in :data:`ALLOWED`."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise UnsafePickleError(
                f"{self._path}: refusing to unpickle {module}.{name} (a data batch may hold "
                "only numpy arrays, dicts, lists, numbers and bytes)"
            )
        # numpy 2 moved numpy.core to numpy._core (the old name warns): the one that exists
        if module.startswith(("numpy.core.", "numpy._core.")):
            module = _NUMPY_CORE + module[module.index(".", 6) :]
        return super().find_class(module, name)


def load_plain_data(path: Path) -> Any:
    """The object pickled in ``path``, built only from numpy arrays, dicts, lists, numbers and
    bytes (Python 2 strings come back as bytes); :class:`UnsafePickleError` for anything else,
    before anything it names is called."""
    with path.open("rb") as f:
        return _PlainDataUnpickler(f, path).load()
