"""A search's space is checked as a grid's values are: a distribution (or a list sampled
from) that can draw a value its field does not take is refused by `validate` with one line
naming the field and what it allows, whatever the draws happen to be; a scheduler's metric no
planned trial logs is refused as ``selection.metric`` is. Exit code 2, nothing created."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from aesweep.catalog import MODELS, STRATEGIES
from aesweep.config.grid import grid_model, integer_field, sweepable_fields
from aesweep.config.optimizer import OptimizerConfig
from aesweep.config.search_range import range_problems
from aesweep.sweeps.cli import main

SEARCH: dict[str, Any] = {
    "name": "s",
    "data": {"dataset": "digits"},
    "models": [{"family": "cwae", "latent_dim": 8}],
    "strategies": [{"kind": "minibatch", "batch_size": 32}],
    "optimizer": {"name": "adam", "lr": 0.001},
    "search": {"algorithm": "random", "num_samples": 1},
}


def refused(capsys, write_spec, tmp_path, spec: dict) -> list[str]:
    """The lines of ``aesweep validate`` (which must exit with 2 and create nothing)."""
    path = write_spec(spec)
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == "" and "Traceback" not in err
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # nothing created
    return [line.removeprefix(f"{path}: ") for line in err.splitlines()]


def with_search(algorithm: str, **sections: Any) -> dict:
    search = {"algorithm": algorithm, "num_samples": 1}
    return {**SEARCH, **sections, "search": {**SEARCH["search"], **search}}


@pytest.mark.parametrize("algorithm", ["random", "optuna"])
@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"strategies": [{"kind": "minibatch", "batch_size": {"uniform": [0, 64]}}]},
            "strategies[0].batch_size: uniform(0, 64) draws 0 (an integer field's draws are "
            "rounded); allowed: an integer > 0",
        ),
        (  # the low end rounds to 0: Tune's lograndint(0, ...) would fail, and 0 is no size
            {"models": [{"family": "ae", "latent_dim": {"loguniform": [0.4, 16]}}]},
            "models[0].latent_dim: loguniform(0.4, 16) draws 0 (an integer field's draws are "
            "rounded); allowed: an integer > 0",
        ),
        (
            {"optimizer": {"name": "adam", "lr": {"uniform": [0, 0.01]}}},
            "optimizer.lr: uniform(0, 0.01) draws 0; allowed: a number > 0",
        ),
        (
            {
                "strategies": [
                    {"kind": "momentum_queue", "batch_size": 8, "momentum": {"uniform": [0.9, 1.2]}}
                ]
            },
            "strategies[0].momentum: uniform(0.9, 1.2) draws 1.2; allowed: a number >= 0 and <= 1",
        ),
        (
            {"models": [{"family": "cwae", "latent_dim": 8, "lambda": {"choice": [1, -1]}}]},
            "models[0].lambda: choice(1, -1) holds -1; allowed: a number >= 0",
        ),
        (  # the family's own rule, with a hole no end of the range shows
            {"models": [{"family": "cwae", "latent_dim": {"uniform": [2, 16]}}]},
            "models[0].latent_dim: uniform(2, 16) draws 3, 4, 5 ... (an integer field's draws "
            "are rounded): the closed-form Cramér-Wold distance needs latent_dim >= 8 (or "
            "exactly 1 or 2), got 3",
        ),
        (  # one field against another: any window may be drawn with any fresh
            {
                "strategies": [
                    {"kind": "moving_window", "window": {"choice": [16, 64]}, "fresh": [1, 32]}
                ]
            },
            "strategies[0].fresh: choice(1, 32) holds 32: fresh (k = 32) must not exceed "
            "window (n = 16): the window holds the k fresh latents plus n - k stored ones",
        ),
    ],
)
def test_a_range_a_field_does_not_take_is_one_line_naming_it(
    sections, expected, algorithm, capsys, write_spec, tmp_path
) -> None:
    """Before: random search refused a draw only when it fell outside (one draw here, which
    mostly does not), and optuna checked one draw; both planned the rest."""
    (line,) = refused(capsys, write_spec, tmp_path, with_search(algorithm, **sections))
    assert line == expected


def test_each_field_out_of_range_is_a_line_of_its_own(capsys, write_spec, tmp_path) -> None:
    spec = with_search(
        "optuna",
        models=[{"family": "cwae", "latent_dim": {"uniform": [0, 8]}}],
        strategies=[{"kind": "minibatch", "batch_size": {"loguniform": [0.2, 64]}}],
        optimizer={"name": "adam", "lr": {"loguniform": [0.0001, 0.01]}},  # in range
    )
    lines = refused(capsys, write_spec, tmp_path, spec)
    assert [line.split(":")[0] for line in lines] == [
        "models[0].latent_dim",
        "strategies[0].batch_size",
    ]
    assert lines[0].startswith("models[0].latent_dim: uniform(0, 8) draws 0, 3, 4 ...")
    assert "Input should be greater than 0; the closed-form Cramér-Wold" in lines[0]


@pytest.mark.parametrize(
    ("field", "dist"),
    [
        ("strategies", {"kind": "minibatch", "batch_size": {"uniform": [0.6, 64]}}),  # rounds to 1
        ("strategies", {"kind": "minibatch", "batch_size": {"loguniform": [1, 4096]}}),
        ("models", {"family": "cwae", "latent_dim": {"choice": [1, 2, 8, 64]}}),
        ("models", {"family": "cwae", "latent_dim": {"uniform": [8, 100000]}}),
        ("optimizer", {"name": "sgd", "lr": {"loguniform": [1e-5, 1.0]}}),
    ],
)
def test_ranges_inside_the_field_pass(field, dist, write_spec, capsys) -> None:
    spec = with_search("random", **{field: dist if field == "optimizer" else [dist]})
    assert main(["validate", str(write_spec(spec))]) == 0, capsys.readouterr().err


def _bounded_fields() -> list[tuple[type[BaseModel], str, str, float]]:
    """(config class, alias, bound kind, limit) of every sweepable field with a bound."""
    out = []
    classes = [*MODELS.values(), *STRATEGIES.values(), OptimizerConfig]
    for cls in classes:
        for name in sweepable_fields(cls):
            info = cls.model_fields[name]
            for m in info.metadata:
                for kind in ("gt", "ge", "lt", "le"):
                    if hasattr(m, kind):
                        out.append((cls, info.alias or name, kind, float(getattr(m, kind))))
    return out


BOUND_WORDS = {  # what the field allows, as the line says it (its bounds, or pydantic's words)
    "gt": ("> ", "greater than "),
    "ge": (">= ", "greater than or equal to "),
    "lt": ("< ", "less than "),
    "le": ("<= ", "less than or equal to "),
}


def test_every_bounded_sweepable_field_is_checked_from_its_own_constraints() -> None:
    """Generic: each bound of each sweepable field of every registered model, strategy and
    the optimizer, found in its own pydantic metadata (no list of names): a range across the
    bound is refused, naming the value outside and the bound."""
    fields = _bounded_fields()
    assert {(c.__name__, a) for c, a, _, _ in fields} >= {
        ("MinibatchConfig", "batch_size"),
        ("CWAEConfig", "latent_dim"),
        ("OptimizerConfig", "lr"),
        ("MomentumQueueConfig", "momentum"),
    }
    for cls, alias, kind, limit in fields:
        across = [limit - 2, limit + 2] if kind in ("gt", "ge") else [limit - 0.5, limit + 2]
        grid = grid_model(cls)
        tag = {"family": cls.model_fields.get("family"), "kind": cls.model_fields.get("kind")}
        base = {k: f.default for k, f in tag.items() if f is not None}
        entry = grid.model_validate({**base, alias: {"uniform": across}})
        problems = range_problems(entry)
        assert alias in problems, (cls.__name__, alias, across)
        said = problems[alias]
        assert f"draws {across[0] if kind in ('gt', 'ge') else across[1]:g}" in said, said
        assert any(f"{words}{limit:g}" in said for words in BOUND_WORDS[kind]), said
        if integer_field(cls, alias):
            assert "(an integer field's draws are rounded)" in problems[alias]


@pytest.mark.parametrize("algorithm", ["grid", "random", "optuna"])
def test_a_scheduler_metric_no_trial_logs_is_refused_as_selection_is(
    algorithm, capsys, write_spec, tmp_path
) -> None:
    """Before: any name passed validate, and Ray Tune failed the first trial that reported."""
    sched = {"kind": "asha", "metric": "fid", "grace_period": 5}
    spec = {**SEARCH, "epochs": 10, "search": {"algorithm": algorithm, "scheduler": sched}}
    if algorithm != "grid":
        spec["search"]["num_samples"] = 2
    (line,) = refused(capsys, write_spec, tmp_path, spec)
    assert line.startswith("search.scheduler.metric: unknown metric 'fid'; allowed: "), line
    allowed = line.split("allowed: ")[1].split(", ")
    assert "cost" in allowed and "rec_error" in allowed and "fid" not in allowed


def test_a_scheduler_metric_only_some_trials_log_names_the_others(
    capsys, write_spec, tmp_path
) -> None:
    spec = {
        **SEARCH,
        "models": [{"family": "ae", "latent_trick": {}}, {"family": "cwae"}],
        "epochs": 10,
        "search": {"scheduler": {"kind": "asha", "metric": "lt_sample_cw", "grace_period": 5}},
    }
    (line,) = refused(capsys, write_spec, tmp_path, spec)
    assert line.startswith("search.scheduler.metric: 'lt_sample_cw' is not logged by the trials")
    assert "models[1] (cwae)" in line and "models[0]" not in line


def test_a_scheduler_without_a_metric_ranks_by_selection_and_is_named_once(
    capsys, write_spec, tmp_path
) -> None:
    spec = {
        **SEARCH,
        "epochs": 10,
        "selection": {"metric": "fid"},
        "search": {"scheduler": {"kind": "asha", "grace_period": 5}},
    }
    (line,) = refused(capsys, write_spec, tmp_path, spec)
    assert line.startswith("selection.metric: unknown metric 'fid'")
    ok = {**spec, "selection": {"metric": "cost"}}
    ok["search"] = {"scheduler": {"kind": "asha", "grace_period": 5, "metric": "rec_error"}}
    assert main(["validate", str(write_spec(ok))]) == 0
    assert "ASHA on rec_error (min)" in capsys.readouterr().out
