"""Which unfinished trials run as packs (torch-free): plan shows the packs, and with a
scheduler says every trial runs unpacked; a resubmission resumes the members a pack
checkpoint holds as one pack, a trial with its own checkpoint unpacked, and packs the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aesweep.config.packs import PackSize, pack_key
from aesweep.sweeps.cli import main
from aesweep.sweeps.load import load_plan
from aesweep.sweeps.packing import form_units
from aesweep.trainables.checkpoint_files import MEMBERS_FILE, find_latest, write_manifest

SPEC = {
    "name": "units",
    "data": {"dataset": "digits"},
    "models": [{"family": "cwae", "latent_dim": 8}],
    "strategies": [{"kind": "minibatch", "batch_size": 32}],
    "optimizer": {"name": "adam", "lr": [0.001, 0.002, 0.003]},
    "seeds": [0, 1],
    "epochs": 2,
}


def test_plan_shows_the_pack_and_a_scheduler_runs_every_trial_unpacked(write_spec, capsys) -> None:
    assert main(["plan", str(write_spec(SPEC)), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len({r["pack"] for r in rows}) == 1 and rows[0]["pack"].startswith("pack-")
    asha = {**SPEC, "search": {"scheduler": {"kind": "asha"}}, "evaluation": {"every": 1}}
    assert main(["plan", str(write_spec(asha, "asha.yaml"))]) == 0
    out = capsys.readouterr().out
    assert "pack-" not in out
    assert "unpacked (search.scheduler asha stops trials one by one):" in out


def _checkpoint(folder: Path, owner: str, epoch: int, members: list[str] | None = None) -> Path:
    folder.mkdir(parents=True)
    if members is not None:
        (folder / MEMBERS_FILE).write_text(json.dumps({"members": members, "epoch": epoch}))
    write_manifest(folder, owner, epoch, members)
    return folder


def test_a_resubmission_resumes_pack_members_together_and_packs_the_rest(
    write_spec, tmp_path: Path
) -> None:
    spec, trials = load_plan(write_spec(SPEC))
    ids = [t.trial_id for t in trials]
    storage = tmp_path / "storage"
    # An earlier pack of trials 0-3 checkpointed at epoch 1; trial 0 finished since (not todo).
    _checkpoint(storage / "exp1" / "pack-aaaaaaaaaa" / "checkpoint_000000", "pack-a", 1, ids[:4])
    # Trial 4 ran unpacked and checkpointed on its own.
    _checkpoint(storage / "exp1" / f"cwae-{ids[4]}" / "checkpoint_000000", ids[4], 1)
    todo = trials[1:]
    resume = {t.trial_id: str(f) for t in todo if (f := find_latest(storage, t.trial_id))}
    assert set(resume) == set(ids[1:5])
    units = form_units(spec, todo, resume)
    (resumed,) = [p for p in units.packs if p.resume_from]
    assert [m.trial_id for m in resumed.members] == ids[1:4]
    assert [t.trial_id for t in units.singles] == [ids[4], ids[5]]  # 5: no one left to pack with
    assert "own unpacked checkpoint" in units.alone[ids[4]]
    assert units.unit_of()[ids[2]] == resumed.pack_id

    # auto decided against packing: the fresh trials run unpacked, saying why
    fresh = form_units(spec, trials, {}, {pack_key(trials[0]): PackSize(1, "does not pay")})
    assert not fresh.packs and len(fresh.singles) == 6
    assert set(fresh.alone.values()) == {"does not pay"}


def test_an_unquoted_yaml_off_is_off_and_on_is_refused() -> None:
    """PyYAML reads ``off`` as false (YAML 1.1): ``pack: off`` must still mean off; ``on``
    (true) is no value of the field."""
    import pydantic
    import yaml

    from aesweep.config.evaluation import ComputeConfig

    assert ComputeConfig.model_validate(yaml.safe_load("pack: off")).pack == "off"
    assert ComputeConfig.model_validate(yaml.safe_load("pack: 'off'")).pack == "off"
    assert ComputeConfig.model_validate(yaml.safe_load("pack: 5")).pack == 5
    with pytest.raises(pydantic.ValidationError):
        ComputeConfig.model_validate(yaml.safe_load("pack: on"))
