"""How an autoencoder's networks are initialised: the model field ``init`` (torch-free).

The papers' code is TensorFlow, whose layers start from other weights than PyTorch's:

- ``pytorch``: PyTorch's own defaults (Kaiming-uniform weights with a = √5, uniform biases in
  ±1/√fan_in). What every network had before ``init`` existed; the default, left out of trial
  ids.
- ``glorot_uniform``: weights uniform in ±√(6 / (fan_in + fan_out)), zero biases: the defaults
  of ``tf.layers.dense`` / ``tf.keras.layers.Dense`` and their convolutions, which the MoW
  authors' code uses. About twice PyTorch's scale in the MoW MLP's input and latent layers.
- ``normal``: weights from N(0, std²), zero biases; the layer kinds named in ``truncated`` draw
  from TensorFlow's ``truncated_normal`` instead (N(0, std²) redrawn outside ±2 std). The WAE
  authors' ``ops.py``: ``init_std`` 0.01 (``configs.py``: 0.0099999) and ``init_bias`` 0 for
  every layer, truncated for convolutions (``conv2d``), plain for dense layers (``linear``) and
  transposed convolutions (``deconv2d``).

BatchNorm layers keep scale 1 and shift 0 under every kind (as in both authors' code). Each
kind registers its config class with the ``module:function`` that applies it to a built
network (:mod:`aesweep.models.initialisation`).
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from aesweep.config.base import StrictConfig
from aesweep.config.registry import Registry

LayerKind = Literal["linear", "conv", "conv_transpose"]
"""The layers an initialisation touches: dense, convolution, transposed convolution."""


class Init(StrictConfig):
    """An initialisation of the weighted layers of a built network."""

    kind: str

    @property
    def is_default(self) -> bool:
        """Whether this is PyTorch's own initialisation (then left out of trial ids)."""
        return False


INITS: Registry[type[Init]] = Registry("init")


@INITS.register("pytorch", implementation="aesweep.models.initialisation:keep_pytorch")
class PytorchInit(Init):
    """PyTorch's defaults, untouched."""

    kind: Literal["pytorch"] = "pytorch"

    @property
    def is_default(self) -> bool:
        return True


@INITS.register("glorot_uniform", implementation="aesweep.models.initialisation:glorot_uniform")
class GlorotUniformInit(Init):
    """Weights U(±√(6 / (fan_in + fan_out))), zero biases (TensorFlow's layer defaults)."""

    kind: Literal["glorot_uniform"] = "glorot_uniform"


@INITS.register("normal", implementation="aesweep.models.initialisation:normal")
class NormalInit(Init):
    """Weights N(0, std²), truncated at ±2 std for the layer kinds in ``truncated``; zero
    biases (the WAE authors' ``init_std`` / ``init_bias``)."""

    kind: Literal["normal"] = "normal"
    std: Annotated[float, Field(gt=0)] = Field(description="standard deviation of the weights")
    truncated: tuple[LayerKind, ...] = Field(
        (),
        description="layer kinds (linear, conv, conv_transpose) drawn from TensorFlow's "
        "truncated_normal (values beyond 2 std redrawn); the WAE code: [conv]",
    )


def _init_union() -> Any:
    return Annotated[reduce(or_, INITS.values()), Field(discriminator="kind")]


if TYPE_CHECKING:
    InitConfig = Init
else:
    InitConfig = _init_union()
    """Any registered initialisation, told apart by ``kind`` (a discriminated union)."""
