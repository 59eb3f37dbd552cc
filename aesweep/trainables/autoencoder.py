"""Stage 1: train one autoencoder trial (data + model + strategy -> epochs -> evaluate -> report).

Called through :mod:`aesweep.trainables.entry` (Ray Tune or inline). A non-finite loss or
metric ends the trial as ``diverged`` (a result, never retried).
"""

from __future__ import annotations

from functools import partial

import torch

from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.data.loading import load_dataset
from aesweep.models.loading import build_autoencoder
from aesweep.models.wae_encoder import WAEEncoderModel
from aesweep.strategies.loading import build_strategy
from aesweep.tracking.store import TAG_DIVERGED_EPOCH, TrialRun
from aesweep.trainables.epochs import train_epochs
from aesweep.trainables.evaluation import evaluate_autoencoder
from aesweep.trainables.fid_scoring import fid_due, fid_scorer
from aesweep.trainables.images import log_evaluation_images
from aesweep.trainables.latent_generator import TAG_DIVERGED_STAGE, finish_samplers
from aesweep.trainables.optimizers import build_optimizer, pick_device
from aesweep.trainables.reporting import Reporter
from aesweep.trainables.state import TrialState


def mixed_precision(cfg: TrialConfig, device: torch.device) -> torch.autocast:
    """bfloat16 autocast of the networks on a GPU when ``compute.amp`` (a no-op otherwise)."""
    enabled = cfg.compute.amp and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def train_autoencoder(
    cfg: TrialConfig, payload: TrialPayload, reporter: Reporter, run: TrialRun
) -> str:
    """Stage 1 of every autoencoder family; returns ``finished`` or ``diverged``."""
    torch.manual_seed(cfg.seed)
    device = pick_device(payload.use_gpu)
    data = load_dataset(cfg.data).to(device)
    model = build_autoencoder(cfg.model, data).to(device)
    if isinstance(model, WAEEncoderModel):  # e_pretrain (a resumed trial's checkpoint replaces it)
        model.pretrain_encoder(data.train, partial(build_optimizer, cfg.optimizer))
    strategy = build_strategy(cfg.strategy, model, data.train, epochs=cfg.epochs)
    if cfg.compute.compile:
        # After the strategy (a momentum encoder is a deep copy of the uncompiled encoder).
        # In place, so state_dict keys (checkpoints) are unchanged; the families call the
        # encoder and decoder directly, so those are what gets compiled.
        model.net.encoder.compile()
        model.net.decoder.compile()
    optimizer = build_optimizer(cfg.optimizer, model.autoencoder_parameters())
    state = TrialState(model, optimizer, strategy)

    def evaluate(epoch: int) -> dict[str, float]:
        fid = fid_scorer(cfg, device) if fid_due(cfg, epoch) else None
        return evaluate_autoencoder(model, data.test, cfg.evaluation, fid, seed=cfg.seed)

    def finish(last_eval: dict[str, float]) -> bool:
        if finish_samplers(model, data, cfg, run, reporter, last_eval):  # Latent Trick, gen_*
            return True
        run.finish("diverged", **{TAG_DIVERGED_EPOCH: cfg.epochs, TAG_DIVERGED_STAGE: "lt"})
        return False

    return train_epochs(
        cfg,
        state,
        data.train,
        payload=payload,
        reporter=reporter,
        run=run,
        evaluate=evaluate,
        on_logged=partial(log_evaluation_images, run, model, data.test, cfg),
        after_last=finish,
        autocast=mixed_precision(cfg, device),
    )
