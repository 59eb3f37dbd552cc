"""The MLflow record schema (aesweep.tracking.schema): records as earlier versions stored them
(raw strings, written here through MLflow's own client into a real SQLite store) read back
the same through the schema, what the schema writes is those same strings, its keys are
defined there alone, and it imports no mlflow."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from aesweep.tracking import schema
from aesweep.tracking.schema import DONE, Kind, Outcome
from aesweep.tracking.store import SweepStore, TrialRun

PACKAGE = Path(schema.__file__).resolve().parents[1]

# The tags of a trial's run as the code before the schema module wrote them (the stored
# contract: a resubmission reads these back).
OLD_TRIAL_TAGS = {"aesweep.kind": "trial", "aesweep.group": "digits / ae / minibatch"}
OLD_OUTCOMES = ("finished", "diverged", "stopped", "failed", "killed")


def _old_records(uri: str) -> tuple[SweepStore, str]:
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("old")
    parent = client.create_run(
        exp, tags={"aesweep.kind": "sweep", "aesweep.sweep": "s", "aesweep.spec_hash": "h"}
    ).info.run_id
    for outcome in OLD_OUTCOMES:
        tags = {**OLD_TRIAL_TAGS, "aesweep.trial_id": outcome, "mlflow.parentRunId": parent}
        tags["aesweep.outcome"] = outcome
        if outcome == "stopped":
            tags["aesweep.stopped_epoch"] = "3"
        client.create_run(exp, tags=tags)
    return SweepStore(uri, "old"), parent


def test_records_stored_before_the_schema_read_back_unchanged(mlflow_uri: str) -> None:
    store, parent = _old_records(mlflow_uri)
    assert store.latest_parent_run("s") == parent
    records = store.latest_by_trial(list(OLD_OUTCOMES))
    assert set(records) == set(OLD_OUTCOMES)
    for trial_id, rec in records.items():
        assert Outcome.of(rec.outcome) is Outcome(trial_id)
        assert rec.finished == (Outcome(trial_id) in DONE)
        assert rec.tags[schema.TAG_PARENT_RUN] == parent
    assert {t for t, r in records.items() if r.finished} == {"finished", "diverged", "stopped"}
    assert records["stopped"].stopped_epoch == 3
    assert records["finished"].stopped_epoch is None
    assert Outcome.of("an outcome of a later version") is None


def test_what_the_schema_writes_is_what_earlier_versions_wrote(mlflow_uri: str) -> None:
    store = SweepStore(mlflow_uri, "exp")
    parent = store.open_parent("s", "h", "name: s\n", "one line")
    client = MlflowClient(tracking_uri=store.uri)
    assert client.get_run(parent).data.tags["aesweep.kind"] == "sweep"
    ended = {}
    for outcome in Outcome:
        run_id = store.create_trial_run(parent, outcome.value, outcome.value, {}, "g")
        if outcome is Outcome.STOPPED:
            store.mark_stopped(run_id, 2)
        elif outcome is Outcome.KILLED:
            store.mark_killed(run_id)
        else:
            TrialRun(store.uri, run_id).finish(outcome)
        run = client.get_run(run_id)
        assert run.data.tags["aesweep.kind"] == "trial"
        assert run.data.tags["mlflow.parentRunId"] == parent
        ended[run.data.tags["aesweep.outcome"]] = run.info.status
    assert ended == {
        "finished": "FINISHED",
        "diverged": "FAILED",
        "stopped": "FINISHED",
        "failed": "FAILED",
        "killed": "KILLED",
    }


def test_mirrored_mlflow_keys_are_mlflows_own() -> None:
    assert schema.TAG_PARENT_RUN == MLFLOW_PARENT_RUN_ID


def _constants() -> dict[str, str]:
    return {k: v for k, v in vars(schema).items() if k.isupper() and isinstance(v, str)}


def test_every_key_is_unique_and_says_what_it_records() -> None:
    keys = {k: v for k, v in _constants().items() if k.startswith(("TAG_", "PARAM_", "METRIC_"))}
    assert len(set(keys.values())) == len(keys)
    tree = ast.parse(Path(schema.__file__).read_text())
    documented = set()
    for node, after in zip(tree.body, tree.body[1:], strict=False):
        said = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        if isinstance(node, ast.Assign) and said and isinstance(after.value.value, str):
            documented |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    assert set(_constants()) - documented == set()
    for enum in (Kind, Outcome):
        assert enum.__doc__
        assert all(str(member) == member.value for member in enum)


def test_no_other_module_spells_a_record_key() -> None:
    """A namespaced key (``aesweep.*``, ``mlflow.*``, ``lock.*``) written out anywhere else in
    the package is a second definition that can drift from the schema."""
    keys = {v for k, v in _constants().items() if k.startswith("TAG_") and "." in v}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(schema.__file__).resolve():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in keys:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value}")
    assert found == []


def test_the_schema_imports_no_mlflow_torch_or_ray() -> None:
    code = (
        "import sys, aesweep.tracking.schema\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'torch', 'ray'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
