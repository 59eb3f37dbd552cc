"""A pack computes what its trials compute: for every packed family and strategy, 4 digits
trials (different lr, λ and seed) trained unpacked with the trial's own trainable and as one
pack, in float64, end one epoch with each member's parameters within 1e-9 of its trial's, the
same metrics (all but wall times) and the same records (steps, image artifacts, outcome)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aesweep.trainables import autoencoder
from tests.packs.pack_helpers import float64_data, grid, run_packed, run_unpacked

FAMILIES = {
    "ae": {"family": "ae", "lambda": None},
    "wae_mmd": {"family": "wae_mmd"},
    "cwae": {"family": "cwae"},
    "swae": {"family": "swae", "projections": 7},
    "cw2": {"family": "cw2"},
    "moca": {"family": "moca", "prior": "sphere"},
}
STRATEGIES = {
    "minibatch": {"kind": "minibatch", "batch_size": 32},
    "moving_window": {"kind": "moving_window", "window": 16, "fresh": 4},
    "momentum_queue": {"kind": "momentum_queue", "batch_size": 16, "size": 64},
}


@pytest.fixture
def float64(monkeypatch: pytest.MonkeyPatch):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    monkeypatch.setattr(autoencoder, "load_dataset", lambda cfg: float64_data_cfg(cfg))
    yield
    torch.set_default_dtype(old)


def float64_data_cfg(cfg):
    from aesweep.data.loading import load_dataset

    return load_dataset(cfg).to(torch.float64)


def _timeless(metrics: dict[int, dict[str, float]]) -> dict[int, dict[str, float]]:
    return {
        s: {k: v for k, v in m.items() if not k.endswith("_seconds")} for s, m in metrics.items()
    }


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("family", FAMILIES)
def test_each_member_computes_what_its_unpacked_trial_computes(
    family: str, strategy: str, write_spec, tmp_path: Path, float64: None
) -> None:
    model = FAMILIES[family]
    if strategy == "momentum_queue" and family in ("ae", "swae"):
        pytest.skip(f"{family} has no distance the momentum queue feeds (validate refuses it)")
    trials = grid(write_spec, model, STRATEGIES[strategy])
    # The plain AE has no λ axis (its 4 trials); else 4 of the 8 with every lr, λ and seed.
    trials = trials[:4] if family == "ae" else [trials[i] for i in (0, 3, 5, 6)]
    assert len({(t.optimizer.lr, t.model.latent_weight, t.seed) for t in trials}) == 4
    runs, state, outcomes = run_packed(trials, tmp_path / "pack", data=float64_data(trials[0]))
    assert outcomes == {t.trial_id: "finished" for t in trials}
    for i, trial in enumerate(trials):
        run, single = run_unpacked(trial, tmp_path / trial.trial_id)
        for name, value in single["state"]["params"].items():
            assert value.dtype == torch.float64
            torch.testing.assert_close(
                state["state"]["params"][name][i], value[0], rtol=0, atol=1e-9
            )
        packed_metrics, metrics = _timeless(runs[i].metrics), _timeless(run.metrics)
        assert packed_metrics.keys() == metrics.keys()
        for step in metrics:
            assert packed_metrics[step].keys() == metrics[step].keys()
            for k, v in metrics[step].items():
                assert packed_metrics[step][k] == pytest.approx(v, rel=1e-6, abs=1e-9), (step, k)
        assert runs[i].logged_steps == run.logged_steps
        assert runs[i].artifacts == run.artifacts
        assert runs[i].outcome == run.outcome == "finished"
