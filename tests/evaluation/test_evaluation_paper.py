"""``results --paper``: the published numbers (aesweep/sweeps/published.py) are REFERENCE.md's,
match rows by dataset, model and MoW's (n, k), and print beside a MoW-shaped MNIST sweep's rows."""

from __future__ import annotations

import json
import re

import pytest

from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.sweeps.published import PUBLISHED, published_for
from tests.conftest import SHARED_DATA

REFERENCE = SHARED_DATA.parent / "REFERENCE.md"
NEEDS_MNIST = pytest.mark.skipif(
    not (SHARED_DATA / "MNIST" / "raw").is_dir(), reason="MNIST is not in ../shared/data"
)


def mow_spec(uri: str, storage: str, dataset: dict | None = None) -> dict:
    """The MoW MNIST experiment's shape (specs/mow_mnist.yaml), shrunk to seconds."""
    mlp = {"latent_dim": 20, "architecture": "mlp", "reconstruction": "sqrt_sum", "width": 0.25}
    return {
        "name": "mow-paper",
        "data": dataset
        or {"dataset": "mnist", "root": str(SHARED_DATA), "train_size": 64, "test_size": 32},
        "models": [{"family": f, **mlp} for f in ("wae_mmd", "cwae", "swae")],
        "strategies": [
            {"kind": "minibatch", "batch_size": 64},
            {"kind": "moving_window", "window": 64, "fresh": 32},
        ],
        "optimizer": {"name": "sgd", "lr": [0.01]},
        "epochs": 1,
        "evaluation": {"latent_samples": 32, "images": False},
        "tracking": {"uri": uri, "experiment": "mow-paper", "storage": storage},
    }


def test_published_values_are_those_of_reference_md() -> None:
    if not REFERENCE.is_file():
        pytest.skip("../shared/REFERENCE.md is not here")
    text = REFERENCE.read_text()
    section = text[text.index("## Published numbers") :]
    numbers = [float(n) for n in re.findall(r"\d+\.\d+|\d+", section.replace(" .", " 0."))]
    checked = 0
    for e in PUBLISHED:
        in_reference = e.table == "Table 1" or e.metric == "fid"
        if e.paper == "MoW" and e.dataset != "mnist":
            continue  # REFERENCE.md quotes MoW's MNIST rows only
        if e.paper == "MoW" and (not in_reference or "cost" in e.metric or e.model == "swae"):
            continue  # the rest of MoW Tables 3 and 4 is from the paper's supplement
        assert any(abs(n - e.value) <= 0.006 * max(1.0, e.value) for n in numbers), e
        checked += 1
    assert checked >= 30


def test_rows_match_by_dataset_model_and_mows_n_k(write_spec, tmp_path) -> None:
    spec = mow_spec(f"sqlite:///{tmp_path / 'x.db'}", str(tmp_path))
    spec["strategies"] = [
        {"kind": "minibatch", "batch_size": [64, 32]},
        {"kind": "moving_window", "window": 64, "fresh": [32, 1]},
    ]
    _, trials = load_plan(write_spec(spec))
    by = {(t.model.family, t.strategy.label): published_for(t) for t in trials}
    wae_64 = {e.metric: e.value for e in by[("wae_mmd", "minibatch(64)")]}
    assert wae_64 == {
        "lr": 0.01,
        "cw_distance": 0.026,
        "wae_distance": 0.009,
        "rec_error": 5.495,
        "cost_wae": 5.503,  # Table 1's cost column: rec + WAE distance, no log
        "fid": 48.491,
    }
    cwae_1 = {e.metric: e.value for e in by[("cwae", "moving_window(64,1)")]}
    assert (cwae_1["fid"], cwae_1["cost_cw"]) == (36.96, 1.568)
    swae_32 = {e.metric: e.value for e in by[("swae", "moving_window(64,32)")]}
    assert (swae_32["lr"], swae_32["rec_error"]) == (0.001, 7.291)
    assert by[("cwae", "minibatch(32)")] == []  # n = 32 is no experiment of the paper
    digits = mow_spec("sqlite:///x.db", str(tmp_path), {"dataset": "digits"})
    _, trials = load_plan(write_spec(digits, "digits.yaml"))
    assert all(published_for(t) == [] for t in trials)


@NEEDS_MNIST
def test_paper_prints_published_values_and_sources(write_spec, tmp_path, capsys) -> None:
    path = write_spec(mow_spec(f"sqlite:///{tmp_path / 'm.db'}", str(tmp_path / "ray")))
    assert main(["run", str(path), "--inline"]) == 0
    capsys.readouterr()
    assert main(["results", str(path), "--paper"]) == 0
    out = capsys.readouterr().out
    table, comparison, differences = out.split("\n\n")
    assert differences.splitlines()[1:] == [
        "MoW: evaluation.fid.samples FID off (the paper: 10000)",
        "MoW: evaluation.latent_samples 32 (the paper: 2000)",
    ]
    assert "published numbers" in comparison
    lines = comparison.splitlines()[3:]
    assert len(lines) == 2 * (6 + 6 + 6)  # k in {64, 32} x (lr, 2 distances, rec, cost, FID)
    wae = [ln for ln in lines if ln.startswith("mnist") and " wae_mmd " in ln and "(64)" in ln]
    metrics = {ln.split()[3] for ln in wae}
    assert metrics == {"lr", "cw_distance", "wae_distance", "rec_error", "cost_wae", "fid"}
    rec = next(ln for ln in wae if ln.split()[3] == "rec_error")
    assert "5.495" in rec and "MoW (paper 000) Table 1: MNIST, WAE, n = 64, k = 64, SGD" in rec
    cwae_32 = [ln for ln in lines if " cwae " in ln and "moving_window(64,32)" in ln]
    fid = next(ln for ln in cwae_32 if ln.split()[3] == "fid")
    assert "43.796" in fid and "Table 3" in fid and fid.split()[4] == "-"  # no FID logged here
    rows = json.loads(_json(path, capsys))
    assert len(rows) == 6
    for row in rows:
        assert row["published"], row
        assert all(p["source"].startswith("MoW (paper 000)") for p in row["published"])


def _json(path, capsys) -> str:  # type: ignore[no-untyped-def]
    assert main(["results", str(path), "--paper", "--format", "json"]) == 0
    return capsys.readouterr().out
