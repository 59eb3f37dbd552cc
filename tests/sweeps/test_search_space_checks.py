"""A search is checked as a grid is: a scheduler's metric no planned trial logs is refused
as ``selection.metric`` is. Exit code 2, nothing created."""

from __future__ import annotations

from typing import Any

import pytest

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
