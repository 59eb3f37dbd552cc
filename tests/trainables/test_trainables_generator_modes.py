"""The RSR toy's mode count: how many of the mixture's components the generated samples cover."""

from __future__ import annotations

import torch

from aesweep.trainables.generator import modes_recovered

MEANS = (-1.5, -0.5, 0.5, 1.5)


def test_a_sample_of_the_mixture_covers_every_mode() -> None:
    g = torch.Generator().manual_seed(0)
    which = torch.randint(4, (4000,), generator=g)
    x = torch.tensor(MEANS)[which] + 0.2 * torch.randn(4000, generator=g)
    assert modes_recovered(x, MEANS, 0.2) == 4


def test_collapsed_samples_cover_only_their_modes() -> None:
    g = torch.Generator().manual_seed(1)
    two = torch.cat(
        [-0.5 + 0.1 * torch.randn(500, generator=g), 1.5 + 0.1 * torch.randn(500, generator=g)]
    )
    assert modes_recovered(two, MEANS, 0.2) == 2
    # one mode with a tenth of the samples: below half its weight (1/8), not counted
    three = torch.cat([two, torch.full((100,), 0.5)])
    assert modes_recovered(three, MEANS, 0.2) == 2
    # samples between modes cover none
    assert modes_recovered(torch.zeros(100), MEANS, 0.2) == 0
