"""Plan-time checks of the zoo's configs (no torch): defaults from REFERENCE.md, the pairs the
planner accepts and rejects, and one clear line per bad field."""

from __future__ import annotations

import pytest

from aesweep.sweeps.load import SpecError, load_plan


def plan_of(write_spec, models: list[dict], strategies: list[dict] | None = None):
    spec = {"name": "cfg", "models": models}
    if strategies is not None:
        spec["strategies"] = strategies
    return load_plan(write_spec(spec))[1]


def problems(write_spec, models: list[dict], strategies: list[dict] | None = None) -> str:
    with pytest.raises(SpecError) as err:
        plan_of(write_spec, models, strategies)
    assert len(err.value.lines) == 1, err.value.lines
    return err.value.lines[0]


def test_defaults_follow_the_papers(write_spec) -> None:
    trials = plan_of(
        write_spec,
        [
            {"family": "wae_gan"},
            {"family": "swae"},
            {"family": "cw2"},
            {"family": "ae", "latent_trick": {}},
        ],
    )
    gan, swae, cw2, ae = (t.model for t in trials)
    d = gan.discriminator
    assert (d.width, d.layers, d.lr, d.betas) == (512, 4, 5e-4, (0.5, 0.999))
    assert swae.projections == 50 and swae.distance.name == "sliced"
    assert cw2.gamma == "fixed" and cw2.distance.name == "cw"
    lt = ae.latent_trick
    assert (lt.hidden, lt.layers, lt.lr, lt.noise_dim, lt.batch_size) == (512, 5, 5e-4, 8, None)
    assert [t.model.label for t in trials] == ["wae_gan", "swae", "cw2", "ae+lt"]
    flat = trials[3].flat()
    assert flat["model.latent_trick.noise_dim"] == 8 and "model.prior" in flat


def test_compatible_pairs_plan(write_spec) -> None:
    trials = plan_of(
        write_spec,
        [{"family": "wae_gan"}],
        [{"kind": "minibatch"}, {"kind": "moving_window", "window": 64, "fresh": 8}],
    )
    assert len(trials) == 2
    trials = plan_of(write_spec, [{"family": "swae"}], [{"kind": "run_sort_rerun"}])
    assert len(trials) == 1


@pytest.mark.parametrize(
    ("models", "strategies", "message"),
    [
        ([{"family": "wae_gan"}], [{"kind": "momentum_queue"}], "momentum_queue works only"),
        ([{"family": "cw2"}], [{"kind": "run_sort_rerun"}], "run_sort_rerun works only"),
        ([{"family": "cw2", "latent_dim": 4}], None, "models[0].latent_dim: the closed-form"),
        (
            [{"family": "ae", "latent_dim": 5, "latent_trick": {}}],
            None,
            "models[0].latent_trick: its Cramér-Wold distance needs latent_dim 1, 2 or >= 8, got 5",
        ),
        (
            [{"family": "generator", "latent_trick": {}}],
            [{"kind": "minibatch"}],
            "models[0].latent_trick: unknown key",
        ),
        ([{"family": "wae_gan", "discriminator": {"depth": 3}}], None, "depth"),
        ([{"family": "cw2", "gamma": "median"}], None, "gamma"),
        ([{"family": "swae", "projections": 0}], None, "projections"),
        ([{"family": "ae", "latent_trick": {"epochs": 0}}], None, "epochs"),
    ],
)
def test_bad_configs_are_one_clear_line(write_spec, models, strategies, message) -> None:
    text = problems(write_spec, models, strategies)
    assert message in text
