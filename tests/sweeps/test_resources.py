"""GPU requests per trial: ``auto`` packs trials onto GPUs, and asks for none without one.
(No GPU exists on this machine or in CI: the cluster resources are given as Ray reports them.)"""

from __future__ import annotations

import pytest

from aesweep.sweeps.connect import resolve_gpus
from aesweep.sweeps.spec import SweepSpec


def _spec(**resources: object) -> SweepSpec:
    return SweepSpec.model_validate(
        {"name": "x", "models": [{"family": "ae"}], "resources": resources}
    )


def test_auto_requests_no_gpu_on_a_cpu_only_cluster() -> None:
    assert resolve_gpus(_spec(), {"CPU": 2.0}) == 0.0
    assert resolve_gpus(_spec(), {"CPU": 64.0, "GPU": 0.0}) == 0.0


@pytest.mark.parametrize(
    ("cluster", "cpus", "expected"),
    [
        ({"CPU": 16.0, "GPU": 1.0}, 1, 1 / 16),  # 16 trials share the one GPU
        ({"CPU": 16.0, "GPU": 1.0}, 4, 1 / 4),  # 4 trials, 4 CPUs each
        ({"CPU": 64.0, "GPU": 8.0}, 1, 1 / 8),  # 8 trials per GPU
        ({"CPU": 64.0, "GPU": 1.0}, 1, 1 / 16),  # never below 1/16 of a GPU
        ({"CPU": 4.0, "GPU": 8.0}, 1, 1.0),  # never above one GPU
    ],
)
def test_auto_packs_trials_onto_each_gpu(cluster, cpus, expected) -> None:
    assert resolve_gpus(_spec(cpus_per_trial=cpus), cluster) == pytest.approx(expected)


def test_a_number_is_taken_as_given() -> None:
    assert resolve_gpus(_spec(gpus_per_trial=0.5), {"CPU": 8.0, "GPU": 1.0}) == 0.5
    assert resolve_gpus(_spec(gpus_per_trial=0), {"CPU": 8.0, "GPU": 1.0}) == 0.0
