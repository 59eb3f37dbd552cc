"""Sweeps of thousands of trials: ``plan`` hashes each pack once, ``prepare`` talks to the
tracking store a fixed number of times whatever the number of trials (one read, batched run
creation), finds checkpoints in one scan, and each Ray Tune trial is handed its own payload
alone. Structure, never timing (benchmarks/bench_scale.py has the figures)."""

from __future__ import annotations

import json
import pickle
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

import aesweep.config.packs as packs
from aesweep.config.packs import pack_id
from aesweep.sweeps.backends.tune import PayloadShelf
from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.sweeps.prepare import payload, prepare
from aesweep.tracking import batch, schema, store
from aesweep.tracking.store import NewTrialRun, SweepStore
from aesweep.trainables.checkpoint_files import MEMBERS_FILE, find_latest, write_manifest
from aesweep.trainables.child_runs import checkpoint_index
from tests.conftest import tiny_spec


def _grid(n_lr: int, n_lambda: int, tmp_path: Path, pack: int | str = 16) -> dict[str, Any]:
    """A digits sweep of ``n_lr`` x ``n_lambda`` trials (nothing is trained)."""
    return {
        "name": "big",
        "data": {"dataset": "digits", "train_size": 256, "test_size": 128},
        "models": [
            {"family": "wae_mmd", "latent_dim": 8, "lambda": [1.0 + k for k in range(n_lambda)]}
        ],
        "strategies": [{"kind": "minibatch", "batch_size": 32}],
        "optimizer": {"name": "adam", "lr": [1e-4 * (1 + k) for k in range(n_lr)]},
        "epochs": 1,
        "evaluation": {"every": 1, "latent_samples": 128},
        "compute": {"pack": pack},
        "tracking": {
            "uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "experiment": "big",
            "storage": str(tmp_path / "runs"),
        },
    }


@pytest.mark.slow
def test_plan_of_10000_trials_hashes_each_pack_once(write_spec, tmp_path, capsys, monkeypatch):
    calls = Counter[str]()
    hashed = packs.pack_id

    def counted(member_ids: list[str]) -> str:
        calls["pack_id"] += 1
        return hashed(member_ids)

    monkeypatch.setattr(packs, "pack_id", counted)
    assert main(["plan", str(write_spec(_grid(100, 100, tmp_path)))]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("10000 trials: 100 models x 1 strategy x 100 lr")
    ids = [line.split()[0] for line in out[1:10001]]
    assert len(set(ids)) == 10_000
    lines = [line for line in out if line.startswith("pack-")]
    members: list[str] = []
    for line in lines:
        head, _, listed = line.partition(": ")
        group = listed.split()
        assert head.split()[0] == pack_id(group) and len(group) <= 16
        members += group
    assert sorted(members) == sorted(ids)  # every trial in exactly one pack
    assert calls["pack_id"] == len(lines) == 625  # once per pack, not once per member


class _Calls:
    """MLflow client calls and SQL transactions (commits) while it is active."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client: Counter[str] = Counter()
        self.commits = 0
        counts = self.client

        class Counting(MlflowClient):
            def __getattribute__(self, name: str) -> Any:
                if not name.startswith("_"):
                    counts[name] += 1
                return super().__getattribute__(name)

        monkeypatch.setattr(store, "MlflowClient", Counting)

    def __enter__(self) -> _Calls:
        event.listen(Engine, "commit", self._commit)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "commit", self._commit)

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def total(self) -> int:
        return sum(self.client.values())


def _prepared(spec_path: Path, n: int, calls: _Calls) -> tuple[Any, dict[str, int]]:
    spec, trials = load_plan(spec_path)
    SweepStore(spec.tracking.uri, spec.experiment)  # the store exists: its creation apart
    calls.client.clear()
    calls.commits = 0
    with calls:
        prep = prepare(spec, trials[:n], "spec")
    return prep, {"client": calls.total(), "commits": calls.commits}


@pytest.mark.slow
def test_prepare_talks_to_the_store_as_often_for_100_trials_as_for_10(
    write_spec, tmp_path, monkeypatch
):
    calls = _Calls(monkeypatch)
    small = tmp_path / "small"
    big = tmp_path / "big"
    small.mkdir()
    big.mkdir()
    prep_small, few = _prepared(write_spec(_grid(10, 10, small), "s.yaml"), 10, calls)
    prep_big, many = _prepared(write_spec(_grid(10, 10, big), "b.yaml"), 100, calls)
    assert len(prep_small.run_ids) == 10 and len(prep_big.run_ids) == 100
    assert many == few, (few, many)  # nothing per trial: one read, one batch of new runs
    assert few["client"] < 20 and few["commits"] < 20, few
    # Every child run reads back as one run per trial, SCHEDULED, with its params and tags.
    records = prep_big.store.latest_by_trial([t.trial_id for t in prep_big.todo])
    assert {r.run_id for r in records.values()} == set(prep_big.run_ids.values())
    assert {r.status for r in records.values()} == {"SCHEDULED"}
    first = prep_big.todo[0]
    rec = records[first.trial_id]
    assert rec.params["trial_id"] == first.trial_id
    assert rec.params["optimizer.lr"] == str(first.optimizer.lr)
    assert json.loads(rec.tags[schema.TAG_CONFIG]) == first.resolved()
    assert rec.tags[schema.TAG_PARENT_RUN] == prep_big.parent
    # Submitted again: the same runs go on (none finished, none started), none is created.
    again, counted = _prepared(write_spec(_grid(10, 10, big), "b.yaml"), 100, calls)
    assert again.run_ids == prep_big.run_ids
    assert calls.client["create_run"] == 1  # the submission's parent run
    assert counted["client"] <= few["client"] and counted["commits"] <= few["commits"]


def _strip(run: Any) -> dict[str, Any]:
    """What a run holds, less what differs between any two runs (ids, times)."""
    info = run.info
    return {
        "name": info.run_name,
        "status": info.status,
        "user": info.user_id,
        "stage": info.lifecycle_stage,
        "end": info.end_time,
        "artifacts": info.artifact_uri.replace(info.run_id, "RUN"),
        "started": info.start_time > 0,
        "tags": dict(run.data.tags),
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
    }


def test_batched_runs_read_back_as_runs_created_call_by_call(mlflow_uri, monkeypatch):
    sweep = SweepStore(mlflow_uri, "alike")
    parent = sweep.open_parent("alike", "h", "spec", "1 trial")
    runs = [
        NewTrialRun(
            f"t{k}", f"trial-{k}", {"trial_id": f"t{k}", "a.b": k, "c": None}, "g", {"x": k}
        )
        for k in range(3)
    ]
    batched = sweep.create_trial_runs(parent, runs)
    with monkeypatch.context() as m:
        m.setattr(batch, "_sql_store", lambda client: None)  # what a tracking server gets
        one_by_one = sweep.create_trial_runs(parent, runs)
    client = MlflowClient(sweep.uri)
    for a, b in zip(batched, one_by_one, strict=True):
        assert _strip(client.get_run(a)) == _strip(client.get_run(b))
    assert _strip(client.get_run(batched[1]))["params"] == {
        "trial_id": "t1",
        "a.b": "1",
        "c": "None",
    }
    assert _strip(client.get_run(batched[0]))["status"] == "SCHEDULED"
    found = client.search_runs([sweep.experiment_id], "tags.`aesweep.trial_id` = 't2'")
    assert {r.info.run_id for r in found} == {batched[2], one_by_one[2]}


def test_a_few_trials_are_looked_up_by_id_as_the_whole_experiment_would_say(mlflow_uri):
    sweep = SweepStore(mlflow_uri, "few")
    parent = sweep.open_parent("few", "h", "spec", "")
    runs = [NewTrialRun(f"t{k % 5}", f"r{k}", {}, "g") for k in range(12)]  # 5 ids, reruns
    made = sweep.create_trial_runs(parent, runs)
    sweep.mark_killed(made[7])
    every = sweep.latest_by_trial([f"t{k}" for k in range(5)] + [f"x{k}" for k in range(20)])
    for wanted in (["t2"], ["t1", "t3", "nothing"], ["t2", "t2"]):
        few = sweep.latest_by_trial(wanted)
        assert few == {t: every[t] for t in wanted if t in every}
    assert sorted(r.run_id for r in sweep.trial_records(["t2"])) == sorted([made[2], made[7]])


def _checkpoint(folder: Path, trial_id: str, epoch: int | None, members=None) -> None:
    folder.mkdir(parents=True)
    (folder / "trial.pt").write_bytes(b"state of epoch %d" % (epoch or 0))
    if members is not None:
        (folder / MEMBERS_FILE).write_text(json.dumps({"members": members}))
    if epoch is not None:  # none: an incomplete copy (no manifest)
        write_manifest(folder, trial_id, epoch, members)


def test_one_scan_of_the_checkpoints_finds_what_a_lookup_per_trial_finds(tmp_path):
    root = tmp_path / "runs"
    a, b, c, d = (k * 10 for k in "abcd")
    _checkpoint(root / "exp1" / f"cwae-lr0.1-s0-{a}" / "checkpoint_000001", a, 1)
    _checkpoint(root / "exp2" / f"cwae-lr0.1-s0-{a}" / "checkpoint_000003", a, 3)
    _checkpoint(root / "exp2" / f"cwae-lr0.1-s0-{a}" / "checkpoint_000004", a, None)
    _checkpoint(root / "exp1" / "pack-0123456789" / "checkpoint_000002", "pack-0123456789", 2, [b])
    _checkpoint(
        root / "exp2" / "pack-9876543210" / "checkpoint_000005", "pack-9876543210", 5, [b, c]
    )
    _checkpoint(root / "exp2" / f"cwae-lr0.2-s0-{c}" / "checkpoint_000005", c, 5)
    _checkpoint(root / "exp1" / f"cwae-lr0.3-s0-{d}" / "checkpoint_000002", d, None)
    ids = ["aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd", "eeeeeeeeee"]
    index = checkpoint_index(root, ids)
    good = {t: f.location.text for t, f in index.items() if f.location is not None}
    expected = {t: str(f) for t in ids if (f := find_latest(root, t)) is not None}
    assert good == expected
    assert set(good) == {"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"}
    assert good["cccccccccc"].endswith("cwae-lr0.2-s0-cccccccccc/checkpoint_000005")  # own first
    assert good["bbbbbbbbbb"].endswith("pack-9876543210/checkpoint_000005")
    assert index["aaaaaaaaaa"].epoch == 3  # the newer copy has no manifest: skipped, said
    assert (index["aaaaaaaaaa"].note() or "").endswith("resumed from epoch 3")
    assert "started over" in (index["dddddddddd"].note() or "")  # damaged only: no checkpoint
    assert "eeeeeeeeee" not in index
    one = checkpoint_index(root, ["bbbbbbbbbb"])
    assert {t: f.location.text for t, f in one.items() if f.location} == {
        "bbbbbbbbbb": expected["bbbbbbbbbb"]
    }


@pytest.mark.ray
def test_each_trial_fetches_its_own_payload_and_is_handed_no_other(
    ray_session, write_spec, tmp_path
):
    import ray

    spec_path = write_spec(tiny_spec(f"sqlite:///{tmp_path / 'm.db'}", tmp_path / "runs"))
    spec, trials = load_plan(spec_path, ["optimizer.lr=[0.001,0.002,0.003,0.004]"])
    prep = prepare(spec, trials, "spec")
    bodies = {t.trial_id: payload(prep, t, threads=1, use_gpu=False) for t in prep.todo}
    shelf = PayloadShelf(bodies)
    for tid, body in bodies.items():
        assert shelf(tid) == body
    fewer = PayloadShelf(dict(list(bodies.items())[:1]))
    # What Tune ships to every trial (the shelf) does not grow with the payloads it holds.
    from ray import cloudpickle

    assert len(cloudpickle.dumps(shelf)) == len(cloudpickle.dumps(fewer))
    assert len(cloudpickle.dumps(shelf)) < len(pickle.dumps(next(iter(bodies.values()))))

    @ray.remote(num_cpus=0)
    def fetch(lookup: PayloadShelf, unit: str) -> str:
        return lookup(unit).run_id  # in another process, as a Tune trial does

    tid = prep.todo[2].trial_id
    assert ray.get(fetch.remote(shelf, tid)) == prep.run_ids[tid]
    assert re.fullmatch(r"[0-9a-f]{32}", prep.run_ids[tid])


def test_a_trials_cached_config_is_never_stale_nor_shared(write_spec, tmp_path):
    spec = {**_grid(2, 1, tmp_path), "data": {"dataset": "mnist", "root": "data"}}
    _, trials = load_plan(write_spec(spec))
    trial = trials[0]
    trial.resolved()["model"]["latent_dim"] = 99  # the caller's copy
    trial.flat()["optimizer.lr"] = 99
    assert (
        trial.resolved()["model"]["latent_dim"] == 8 == trial.resolved_view()["model"]["latent_dim"]
    )
    assert trial.flat()["optimizer.lr"] == trial.optimizer.lr
    moved = trial.located(tmp_path)  # a copy whose data changed: dumped again
    assert moved.resolved()["data"]["root"] == str(tmp_path / "data")
    assert moved.flat()["data.root"] == str(tmp_path / "data")
    assert trial.resolved()["data"]["root"] == "data"
    assert trial.with_id().resolved_view() is trial.resolved_view()  # only the id changed
    back = pickle.loads(pickle.dumps(trial))
    assert "_resolved" not in back.__dict__  # not shipped with a payload
    assert back == trial and back.resolved() == trial.resolved()
