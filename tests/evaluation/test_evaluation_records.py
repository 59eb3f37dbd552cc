"""After a small real sweep: image grids in the child runs, plots in the parent run, and the
results table's mean ± std and diverged grid points, all read back from MLflow."""

from __future__ import annotations

import csv
import io
import json
import logging
import statistics
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from aesweep.sweeps import plots
from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.sweeps.results import result_groups
from aesweep.sweeps.submission import run_sweep
from aesweep.tracking.schema import TAG_KIND
from tests.evaluation.conftest import BAD_LR, GOOD_LR, open_png

GRIDS = ("samples", "reconstructions", "interpolations")


def _runs(sweep, kind: str) -> list:  # type: ignore[no-untyped-def]
    store = sweep.store
    runs = MlflowClient(tracking_uri=store.uri).search_runs([store.experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get(TAG_KIND) == kind]


def _parents(sweep) -> list:  # type: ignore[no-untyped-def]
    """The sweep's parent runs, oldest (the submission that trained) first."""
    return sorted(_runs(sweep, "sweep"), key=lambda r: r.info.start_time)


def _artifacts(store, run_id: str, folder: str) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(
        f.path for f in MlflowClient(tracking_uri=store.uri).list_artifacts(run_id, folder)
    )


def _results(sweep, capsys, *args: str) -> str:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert main(["results", str(sweep.spec_path), *args]) == 0
    return capsys.readouterr().out


def test_child_runs_have_image_grids_at_each_evaluation(evaluated_sweep, tmp_path) -> None:
    store = evaluated_sweep.store
    children = _runs(evaluated_sweep, "trial")
    finished = [c for c in children if c.data.tags["aesweep.outcome"] == "finished"]
    diverged = [c for c in children if c.data.tags["aesweep.outcome"] == "diverged"]
    assert len(finished) == 2 and len(diverged) == 2
    for child in finished:
        for grid in GRIDS:
            paths = _artifacts(store, child.info.run_id, grid)
            assert paths == [f"{grid}/epoch_0001.png", f"{grid}/epoch_0002.png"]
            local = MlflowClient(tracking_uri=store.uri).download_artifacts(
                child.info.run_id, paths[-1], str(tmp_path)
            )
            image = open_png(local)
            assert image.size[0] > 100 and image.size[1] > 30
    for child in diverged:  # NaN at epoch 1: no evaluation, no grid
        assert _artifacts(store, child.info.run_id, "samples") == []


def test_parent_run_has_the_sweeps_plots(evaluated_sweep, tmp_path) -> None:
    store = evaluated_sweep.store
    parent = _parents(evaluated_sweep)[0]
    paths = _artifacts(store, parent.info.run_id, plots.PLOTS_DIR)
    assert paths == ["plots/metrics_over_epochs.png", "plots/metrics_vs_lr.png"]
    for path in paths:
        image = open_png(
            MlflowClient(tracking_uri=store.uri).download_artifacts(
                parent.info.run_id, path, str(tmp_path)
            )
        )
        assert image.size[0] >= 400 and image.size[1] >= 300


def test_plotted_values_are_the_tables(evaluated_sweep) -> None:
    spec, trials = load_plan(evaluated_sweep.spec_path)
    store = evaluated_sweep.store
    (group,) = result_groups(spec, trials, store)
    (series,) = plots.lr_series([group], "rec_error")
    finals = [r.metrics["rec_error"] for r in group.best.finished]
    assert series.x == [GOOD_LR] and series.y == [pytest.approx(statistics.fmean(finals))]
    assert series.err == [pytest.approx(statistics.stdev(finals))]
    assert series.diverged_x == [BAD_LR]
    assert series.selected == (GOOD_LR, series.y[0])
    (epochs,) = plots.epoch_series([group], ["rec_error"], store)["rec_error"]
    assert epochs.x == [1.0, 2.0]
    at_2 = [dict(store.metric_history(r.run_id, "rec_error"))[2] for r in group.best.finished]
    assert epochs.y[1] == pytest.approx(statistics.fmean(at_2))


def test_results_show_mean_and_std_over_seeds(evaluated_sweep, capsys) -> None:
    store = evaluated_sweep.store
    finals = [
        c.data.metrics["rec_error"]
        for c in _runs(evaluated_sweep, "trial")
        if c.data.tags["aesweep.outcome"] == "finished"
    ]
    (row,) = json.loads(_results(evaluated_sweep, capsys, "--format", "json"))
    assert row["lr"] == GOOD_LR and row["seeds"] == 2
    assert row["rec_error"] == pytest.approx(statistics.fmean(finals))
    assert row["rec_error_std"] == pytest.approx(statistics.stdev(finals))
    assert row["sample_cw"] > 0 and "sample_cw_std" in row  # optional columns that exist
    assert "fid" not in row  # none logged here
    table = _results(evaluated_sweep, capsys)
    header, _, line = table.splitlines()
    assert "sample_cw" in header and "seeds" in header and "fid" not in header
    assert f"{row['rec_error']:.4f} ± {row['rec_error_std']:.4f}" in line
    assert "2/2" in line
    markdown = _results(evaluated_sweep, capsys, "--format", "markdown")
    assert f"{row['cost']:.4f} ± {row['cost_std']:.4f}" in markdown
    (csv_row,) = csv.DictReader(io.StringIO(_results(evaluated_sweep, capsys, "--format", "csv")))
    assert float(csv_row["rec_error_std"]) == pytest.approx(row["rec_error_std"])
    assert store.experiment_id is not None


def test_diverged_grid_points_are_shown(evaluated_sweep, capsys) -> None:
    (row,) = json.loads(_results(evaluated_sweep, capsys, "--format", "json"))
    assert row["diverged"] == 2
    assert row["diverged_points"] == [{"lr": BAD_LR, "lambda": 1.0}]
    assert "2 (lr 1e+30)" in _results(evaluated_sweep, capsys).splitlines()[2]
    # The same store seen through a spec with only the diverging lr: the row says diverged.
    only_bad = ("--set", f"optimizer.lr=[{BAD_LR}]")
    (row,) = json.loads(_results(evaluated_sweep, capsys, *only_bad, "--format", "json"))
    assert row["status"] == "diverged" and row["lr"] is None and row["done"] == 2
    line = _results(evaluated_sweep, capsys, *only_bad).splitlines()[2]
    assert line.split()[3] == "diverged"


def test_results_plots_redraws_into_the_newest_parent(evaluated_sweep, capsys) -> None:
    store = evaluated_sweep.store
    assert main(["results", str(evaluated_sweep.spec_path), "--plots"]) == 0
    assert "plots/metrics_vs_lr.png" in capsys.readouterr().err
    newest = _parents(evaluated_sweep)[-1]
    assert len(_artifacts(store, newest.info.run_id, plots.PLOTS_DIR)) == 2


def test_a_plotting_error_is_a_warning_not_a_failure(evaluated_sweep, monkeypatch, caplog) -> None:
    """Fault injection: the drawing raises; the resubmitted sweep still ends well."""

    def broken(*args: object, **kwargs: object) -> list[str]:
        raise RuntimeError("no plots today")

    monkeypatch.setattr(plots, "log_sweep_plots", broken)
    spec, trials = load_plan(evaluated_sweep.spec_path)
    caplog.set_level(logging.INFO, logger="aesweep.sweeps")
    outcome = run_sweep(spec, trials, Path(evaluated_sweep.spec_path).read_text(), inline=True)
    assert outcome.ok and len(outcome.skipped) == 4
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("warning" in r.getMessage() and "no plots today" in r.getMessage() for r in warned)
    store = evaluated_sweep.store
    parents = _parents(evaluated_sweep)
    assert parents[-1].info.status == "FINISHED"
    assert _artifacts(store, parents[-1].info.run_id, plots.PLOTS_DIR) == []
