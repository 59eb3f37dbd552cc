"""The model field ``init`` (aesweep/config/init.py): Glorot-uniform weights against the bound
√(6 / (fan_in + fan_out)) computed here from each layer's shape, the WAE code's normal (std,
and the 2-std truncation of TensorFlow's truncated_normal) with zero biases, PyTorch's own
initialisation untouched by default, and trial ids that change only when init is named away
from the default."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from aesweep.catalog import MODELS
from aesweep.config.init import GlorotUniformInit, NormalInit, PytorchInit
from aesweep.config.models import ARCHITECTURES
from aesweep.models.base import AutoencoderModel
from aesweep.models.initialisation import initialise
from tests.conftest import model_trial_ids

SHAPES = {
    "mlp": (1, 28, 28),
    "dcgan": (1, 28, 28),
    "conv_cifar": (3, 32, 32),
    "conv64": (3, 64, 64),
}
WIDTH = {"mlp": 1.0, "dcgan": 0.125, "conv_cifar": 1.0, "conv64": 0.125}
WEIGHTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def fans(layer: nn.Module) -> tuple[int, int]:
    """(fan_in, fan_out) as TensorFlow's Glorot initialiser counts them: units for a dense
    layer, channels times the kernel's area for a (transposed) convolution."""
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    assert isinstance(layer, nn.Conv2d | nn.ConvTranspose2d)
    area = math.prod(layer.kernel_size)
    return layer.in_channels * area, layer.out_channels * area


def build(architecture: str, init: dict[str, Any], seed: int = 0) -> AutoencoderModel:
    torch.manual_seed(seed)
    cfg = MODELS.get("cwae").model_validate(
        {"family": "cwae", "architecture": architecture, "width": WIDTH[architecture], "init": init}
    )
    model = MODELS.load("cwae")(cfg, SHAPES[architecture], is_image=True)
    assert isinstance(model, AutoencoderModel)
    return model


def layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, WEIGHTED)]


@pytest.mark.parametrize("architecture", sorted(SHAPES))
def test_glorot_uniform_fills_the_bound_with_zero_biases(architecture: str) -> None:
    model = build(architecture, {"kind": "glorot_uniform"})
    checked = 0
    for layer in layers(model.net):
        fan_in, fan_out = fans(layer)
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = layer.weight.detach()
        assert w.abs().max().item() <= bound
        if w.numel() >= 2000:  # U(-b, b): std b / √3, and it reaches close to ±b
            assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
            assert w.abs().max().item() > 0.95 * bound
            checked += 1
        assert layer.bias is not None and torch.count_nonzero(layer.bias).item() == 0
    assert checked >= 2
    for bn in (m for m in model.net.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_glorot_is_about_twice_pytorchs_scale_in_the_mow_mlp() -> None:
    """The deviation it fixes: PyTorch's bound 1/√fan_in against Glorot's in the first layer."""
    torch_first = layers(build("mlp", {"kind": "pytorch"}).net.encoder)[0].weight
    glorot_first = layers(build("mlp", {"kind": "glorot_uniform"}).net.encoder)[0].weight
    assert torch_first.abs().max().item() <= 1 / math.sqrt(784)
    ratio = glorot_first.std().item() / torch_first.std().item()
    assert ratio == pytest.approx(math.sqrt(6 / 984) * math.sqrt(784), rel=0.05)  # ≈ 2.2


def test_the_wae_normal_truncates_convolutions_only() -> None:
    std = 0.01
    model = build("dcgan", {"kind": "normal", "std": std, "truncated": ["conv"]}, seed=1)
    # A normal truncated at ±2σ and redrawn keeps std σ·√(1 - 2·2φ(2)/(Φ(2) - Φ(-2))).
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    truncated_std = std * math.sqrt(1 - 4 * phi2 / mass)
    kinds = {nn.Conv2d: [], nn.ConvTranspose2d: [], nn.Linear: []}
    for layer in layers(model.net):
        kinds[type(layer)].append(layer.weight.detach().flatten())
        assert torch.count_nonzero(layer.bias).item() == 0
    conv, transposed, dense = (
        torch.cat(kinds[k]) for k in (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    )
    assert conv.abs().max().item() <= 2 * std
    assert conv.std().item() == pytest.approx(truncated_std, rel=0.03)
    for plain in (transposed, dense):  # N(0, σ²): std σ, and about 4.6 % beyond 2σ
        assert plain.std().item() == pytest.approx(std, rel=0.03)
        beyond = (plain.abs() > 2 * std).float().mean().item()
        assert beyond == pytest.approx(1 - mass, abs=0.01)
    assert abs(conv.mean().item()) < 0.05 * std


def test_pytorch_is_the_default_and_leaves_todays_networks_untouched() -> None:
    for architecture in SHAPES:
        named = build(architecture, {"kind": "pytorch"})
        torch.manual_seed(0)
        bare = ARCHITECTURES.load(architecture)(
            SHAPES[architecture], 8, width=WIDTH[architecture], sigmoid_output=True
        )
        for (name, a), b in zip(
            named.net.state_dict().items(), bare.state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), (architecture, name)
    cfg = MODELS.get("cwae").model_validate({"family": "cwae"})
    assert cfg.init == PytorchInit()
    assert "init" not in cfg.model_dump(by_alias=True)


def test_wae_gans_discriminator_gets_the_init_too() -> None:
    torch.manual_seed(0)
    cfg = MODELS.get("wae_gan").model_validate(
        {"family": "wae_gan", "width": 0.125, "init": {"kind": "normal", "std": 0.01}}
    )
    model = MODELS.load("wae_gan")(cfg, (1, 28, 28), is_image=True)
    weights = torch.cat([m.weight.flatten() for m in layers(model.discriminator)])
    assert weights.std().item() == pytest.approx(0.01, rel=0.05)


def test_initialise_takes_the_registered_kind() -> None:
    net = nn.Sequential(nn.Linear(300, 300))
    initialise(net, NormalInit(std=0.5, truncated=("linear",)))
    assert net[0].weight.abs().max().item() <= 1.0
    initialise(net, GlorotUniformInit())
    assert net[0].weight.abs().max().item() <= math.sqrt(6 / 600)


def spec(tmp_path, init: str | None) -> list[str]:
    return model_trial_ids(
        tmp_path, "{family: cwae, latent_dim: 8" + (f", init: {init}" if init else "") + "}"
    )


def test_init_is_part_of_trial_ids_only_away_from_the_default(tmp_path) -> None:
    unnamed = spec(tmp_path, None)
    assert spec(tmp_path, "{kind: pytorch}") == unnamed
    glorot = spec(tmp_path, "{kind: glorot_uniform}")
    normal = spec(tmp_path, "{kind: normal, std: 0.01}")
    truncated = spec(tmp_path, "{kind: normal, std: 0.01, truncated: [conv]}")
    assert len({*unnamed, *glorot, *normal, *truncated}) == 4
