"""Grid axes on unconstrained fields, and results rows that keep the Latent Trick apart."""

from __future__ import annotations

from pydantic import BaseModel

from aesweep.config.grid import Sweepable, expand_raw, grid_model
from aesweep.sweeps.load import load_plan
from aesweep.sweeps.results import result_groups
from aesweep.tracking.store import SweepStore
from tests.conftest import REPO


class _Plain(BaseModel):
    x: Sweepable[int] = 1
    name: Sweepable[str] = "a"
    fixed: float = 0.5


def test_unconstrained_sweepable_fields_become_axes() -> None:
    grid = grid_model(_Plain).model_validate({"x": [1, 2, 3], "name": "b"})
    combos = expand_raw(grid)
    assert [(c["x"], c["name"], c["fixed"]) for c in combos] == [
        (1, "b", 0.5),
        (2, "b", 0.5),
        (3, "b", 0.5),
    ]


def test_rows_separate_a_family_with_and_without_the_latent_trick(write_spec, mlflow_uri) -> None:
    spec, trials = load_plan(
        write_spec(
            {
                "name": "lt",
                "models": [
                    {"family": "cwae", "latent_dim": 8},
                    {"family": "cwae", "latent_dim": 8, "latent_trick": {"epochs": 1}},
                ],
                "optimizer": {"lr": [0.01, 0.001]},
                "tracking": {"uri": mlflow_uri},
            }
        )
    )
    groups = result_groups(spec, trials, SweepStore(mlflow_uri, "lt"))
    assert sorted(g.model for g in groups) == ["cwae", "cwae+lt"]
    assert all(len(g.trials) == 2 for g in groups)


def test_row_labels_show_only_fields_that_vary_and_apply(mlflow_uri) -> None:
    """LCW's grid: AE and CWAE train with reconstruction ``sum``; CW² has no per-image
    reconstruction, so its rows carry no ``reconstruction=`` label (it used to say
    ``cw2 (reconstruction=sqrt_sum)``, a field it ignored); AE has no λ."""
    spec, trials = load_plan(REPO / "specs" / "lcw_mnist.yaml")
    groups = result_groups(spec, trials, SweepStore(mlflow_uri, "lcw"))
    models = sorted({g.model for g in groups})
    assert models == ["ae", "ae+lt", "cw2", "cw2+lt", "cwae", "cwae+lt"]
    assert all(p.lam is None for g in groups if g.model.startswith("ae") for p in g.points.values())
