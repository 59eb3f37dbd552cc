"""Plan-time rejection of impossible strategy specs: one line per problem naming the field
path (or the model x strategy pair), exit code 2, before anything runs."""

from __future__ import annotations

import pytest

from aesweep.catalog import MODELS, STRATEGIES
from aesweep.sweeps.cli import main

INCOMPATIBLE = [
    (family, kind)
    for family in MODELS.names()
    for kind in STRATEGIES.names()
    if MODELS.get(family).distance not in STRATEGIES.get(kind).supports
]


def _validate(capsys, write_spec, models: list[dict], strategies: list[dict]) -> tuple[int, list]:
    path = write_spec({"name": "v", "models": models, "strategies": strategies})
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    return code, [line.removeprefix(f"{path}: ") for line in err.splitlines() if line]


def test_the_registries_make_impossible_pairs() -> None:
    pairs = set(INCOMPATIBLE)
    for expected in [
        ("cwae", "run_sort_rerun"),
        ("wae_mmd", "run_sort_rerun"),
        ("moca", "run_sort_rerun"),
        ("ae", "momentum_queue"),
        ("generator", "moving_window"),
        ("generator", "momentum_queue"),
    ]:
        assert expected in pairs
    assert ("swae", "run_sort_rerun") not in pairs or "swae" not in MODELS


@pytest.mark.parametrize(("family", "kind"), INCOMPATIBLE)
def test_each_impossible_pair_is_one_line_at_plan_time(family, kind, capsys, write_spec) -> None:
    code, lines = _validate(capsys, write_spec, [{"family": family}], [{"kind": kind}])
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("models[0] x strategies[0]: ")
    assert f"{kind} works only with a " in lines[0] and family in lines[0]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (
            {"kind": "moving_window", "window": 64, "fresh": 80},
            "strategies[0].fresh: fresh (k = 80) must not exceed window (n = 64)",
        ),
        (
            {"kind": "moving_window", "window": 64, "fresh": [64, 32, 65]},
            "strategies[0].fresh[2]: fresh (k = 65) must not exceed window (n = 64)",
        ),
        ({"kind": "moving_window", "fresh": 0}, "strategies[0].fresh: Input should be greater"),
        (
            {"kind": "run_sort_rerun", "effective_batch": 100, "chunk": 64},
            "strategies[0].chunk: chunk (m = 64) must divide effective_batch (b = 100)",
        ),
        (
            {"kind": "run_sort_rerun", "keep": 1.0},
            "strategies[0].keep: Input should be less than 1",
        ),
        ({"kind": "run_sort_rerun", "store": "disk"}, "strategies[0].store: Input should be "),
        (
            {"kind": "momentum_queue", "batch_size": 64, "size": 32},
            "strategies[0].size: size (K = 32) must be at least batch_size (B = 64)",
        ),
        (
            {"kind": "momentum_queue", "momentum": 1.5},
            "strategies[0].momentum: Input should be less than or equal to 1",
        ),
    ],
)
def test_each_bad_strategy_field_names_its_path(strategy, expected, capsys, write_spec) -> None:
    model = {"family": "swae" if strategy["kind"] == "run_sort_rerun" else "cwae"}
    if model["family"] not in MODELS:
        pytest.skip("the swae family is not registered")
    if strategy["kind"] == "momentum_queue":
        model = {"family": "moca"}
    code, lines = _validate(capsys, write_spec, [model], [strategy])
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines[0]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"family": "moca", "prior": "gaussian"}, "models[0].prior: Input should be 'sphere'"),
        ({"family": "moca", "tau": 0}, "models[0].tau: Input should be greater than 0"),
        ({"family": "generator", "power": 3}, "models[0].power: Input should be 1 or 2"),
    ],
)
def test_each_bad_family_field_names_its_path(model, expected, capsys, write_spec) -> None:
    code, lines = _validate(capsys, write_spec, [model], [{"kind": "minibatch"}])
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected), lines[0]


def test_a_valid_mixed_spec_counts_its_trials(capsys, write_spec) -> None:
    path = write_spec(
        {
            "name": "ok",
            "models": [{"family": "cwae"}, {"family": "wae_mmd"}],
            "strategies": [
                {"kind": "minibatch", "batch_size": 64},
                {"kind": "moving_window", "window": 64, "fresh": [32, 1]},
                {"kind": "momentum_queue", "batch_size": 64, "size": 256},
            ],
        }
    )
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.startswith("8 trials: 2 models x 4 strategies")
