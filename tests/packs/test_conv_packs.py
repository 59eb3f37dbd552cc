"""Packs of the convolutional architectures (BatchNorm's running statistics part of each
member's state): a pack of 3 (different lr, λ, seed) ends an epoch with each member's
parameters and BatchNorm statistics within 1e-8 of its trial run alone, in float64, eagerly
under vmap for dcgan (4x4 and 5x5 filters), conv_cifar and conv64, and compiled for dcgan
(``compile_matrix``: a cold compile of the vmapped conv step takes minutes on a 2-core CPU).
The tolerance is the MLP tests' 1e-9 times ten: a convolution under vmap runs as one grouped
convolution, which sums in another order, and Adam's division by the root of the second moment
magnifies that reassociation where a gradient is near zero (BatchNorm's shifts: 1.4e-9 seen
after 6 steps)."""

from __future__ import annotations

import pytest
import torch

import aesweep.catalog  # noqa: F401  (every component registered)
from aesweep.config.packs import why_unpacked
from aesweep.config.trial import TrialConfig
from aesweep.data.base import TensorDataset
from aesweep.trainables.step.members import SteppedMembers

ARCHITECTURES = {"dcgan": True, "conv_cifar": False, "conv64": True}
"""Each convolutional architecture, and whether its networks hold BatchNorm statistics."""
ATOL = 1e-8


def trials(architecture: str, **model: object) -> list[TrialConfig]:
    return [
        TrialConfig.model_validate(
            {
                "trial_id": f"t{i}",
                "sweep": "s",
                "data": {"dataset": "digits"},
                "model": {
                    "family": "cwae",
                    "latent_dim": 8,
                    "architecture": architecture,
                    "width": 0.0625,
                    "lambda": 1.0 + i,
                    **model,
                },
                "strategy": {"kind": "minibatch", "batch_size": 8},
                "optimizer": {"name": "adam", "lr": 0.001 * (i + 1)},
                "epochs": 1,
                "seed": i,
                "evaluation": {},
                "checkpoint": {},
            }
        )
        for i in range(3)
    ]


def images() -> TensorDataset:
    """48 random 16x16 grey images: 6 steps of 8 (the networks' shapes, not the data, matter)."""
    train = torch.rand(48, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    return TensorDataset("random", train, train[:16])


def check_pack_equals_members(architecture: str, *, compiled: bool, **model: object) -> None:
    members, data = trials(architecture, **model), images()
    assert all(why_unpacked(t) is None for t in members)
    pack = SteppedMembers(members, data, torch.device("cpu"), compiled=compiled)
    pack.train_epoch(1, first=True)
    assert pack.runner.executor == ("compiled" if compiled else "eager")
    assert pack.runner.fallback is None
    running = [k for k in pack.state["buffers"] if k.endswith("running_mean")]
    assert bool(running) == ARCHITECTURES[architecture]
    for i, trial in enumerate(members):
        alone = SteppedMembers([trial], data, torch.device("cpu"))
        alone.train_epoch(1, first=True)
        for part in ("params", "buffers"):
            assert pack.state[part].keys() == alone.state[part].keys()
            for k, v in alone.state[part].items():
                torch.testing.assert_close(
                    pack.state[part][k][i], v, rtol=0, atol=ATOL, msg=f"{i} {part}.{k}"
                )
        # the statistics moved (the step returned them as new state)
        for k in running:  # they start at zero
            assert alone.state["buffers"][k].abs().sum() > 0, k


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_conv_pack_equals_its_members_alone(architecture: str, float64: None) -> None:
    check_pack_equals_members(architecture, compiled=False)


def test_a_5x5_dcgan_pack_equals_its_members_alone(float64: None) -> None:
    """kernel 5: the padded convolutions and the cropped transposed ones under vmap."""
    check_pack_equals_members("dcgan", compiled=False, kernel=5)


@pytest.mark.slow
@pytest.mark.compile_matrix
def test_a_compiled_dcgan_pack_equals_its_members_alone(float64: None) -> None:
    check_pack_equals_members("dcgan", compiled=True)
