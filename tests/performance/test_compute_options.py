"""compute.amp / compute.compile: off by default and out of the trial id then; under autocast
the objective (reconstruction and every distance) is computed in float32. CUDA autocast cannot
run here (no GPU); CPU autocast in bfloat16 exercises the same code path."""

from __future__ import annotations

import torch

from aesweep.catalog import MODELS
from aesweep.data.config import DigitsConfig
from aesweep.data.loading import load_dataset
from aesweep.distances import cw_normality
from aesweep.models.loading import build_model
from aesweep.sweeps.load import load_plan

SPEC = {"name": "c", "models": [{"family": "cwae", "latent_dim": 8}], "optimizer": {"lr": [0.01]}}


def test_default_compute_is_left_out_of_ids_and_a_change_makes_new_trials(write_spec) -> None:
    _, default = load_plan(write_spec(SPEC))
    assert "compute" not in default[0].resolved()
    _, explicit = load_plan(write_spec({**SPEC, "compute": {"amp": False, "compile": False}}))
    assert explicit[0].trial_id == default[0].trial_id
    _, amp = load_plan(write_spec({**SPEC, "compute": {"amp": True}}))
    assert amp[0].trial_id != default[0].trial_id
    assert amp[0].flat()["compute.amp"] is True


def test_objective_is_float32_under_autocast() -> None:
    torch.manual_seed(0)
    data = load_dataset(DigitsConfig(train_size=64, test_size=8))
    model = build_model(MODELS.get("cwae")(latent_dim=8), data)
    x = data.train[:32]
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        z = model.encode(x)
        x_hat = model.decode(z)
        assert z.dtype == torch.bfloat16  # the networks do run in low precision
        loss, parts = model.training_loss(x, x_hat, z)
    assert loss.dtype == torch.float32 and parts["latent"].dtype == torch.float32
    expected = torch.log(cw_normality(z.detach().float()))
    assert torch.allclose(parts["latent"], expected, rtol=1e-6)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
