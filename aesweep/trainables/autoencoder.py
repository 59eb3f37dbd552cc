"""Stage 1: train one autoencoder trial (data + model + strategy -> epochs -> evaluate -> report).

Called through :mod:`aesweep.trainables.entry` (Ray Tune or inline). A trial of a set
strategy (minibatch, moving window, momentum queue) is a pack of one of the one training step
(:mod:`aesweep.trainables.step`), eager or compiled (:mod:`aesweep.trainables.executors`);
Run-Sort-ReRun keeps its own step loop (:class:`aesweep.trainables.state.ModuleTrainer`). A
non-finite loss or metric ends the trial as ``diverged`` (a result, never retried).
"""

from __future__ import annotations

from functools import partial

import torch

from aesweep.config.strategies import STRATEGIES
from aesweep.config.trial import TrialConfig, TrialPayload
from aesweep.data.base import TensorDataset
from aesweep.data.loading import load_dataset
from aesweep.models.base import AutoencoderModel
from aesweep.strategies.base import SetStrategy
from aesweep.strategies.loading import build_strategy
from aesweep.tracking.schema import TAG_DIVERGED_EPOCH, TAG_DIVERGED_STAGE, Outcome
from aesweep.tracking.store import TrialRun
from aesweep.trainables.checkpoints import restore_folder
from aesweep.trainables.epochs import EpochTrainer, Member, train_epochs
from aesweep.trainables.evaluation import evaluate_autoencoder
from aesweep.trainables.executors import stepped_trainer
from aesweep.trainables.fid_scoring import fid_due, fid_scorer
from aesweep.trainables.images import log_evaluation_images
from aesweep.trainables.latent_generator import finish_samplers
from aesweep.trainables.optimizers import build_optimizer, pick_device
from aesweep.trainables.reporting import Reporter
from aesweep.trainables.state import ModuleTrainer, TrialState
from aesweep.trainables.step.members import build_trial_model


def mixed_precision(cfg: TrialConfig, device: torch.device) -> torch.autocast:
    """bfloat16 autocast of the networks on a GPU when ``compute.amp`` (a no-op otherwise)."""
    enabled = cfg.compute.amp and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def module_trainer(cfg: TrialConfig, data: TensorDataset, device: torch.device) -> ModuleTrainer:
    """The trainer of a strategy with its own step loop (Run-Sort-ReRun)."""
    model = build_trial_model(cfg, data, device)
    strategy = build_strategy(cfg.strategy, model, data.train, epochs=cfg.epochs)
    optimizer = build_optimizer(cfg.optimizer, model.autoencoder_parameters())
    return ModuleTrainer(
        cfg.trial_id,
        TrialState(model, optimizer, strategy),
        data.train,
        base_lr=cfg.optimizer.lr,
        schedule=cfg.optimizer.schedule,
        autocast=mixed_precision(cfg, device),
    )


def autoencoder_member(
    cfg: TrialConfig,
    run: TrialRun,
    reporter: Reporter,
    data: TensorDataset,
    model: AutoencoderModel,
    device: torch.device,
) -> Member:
    """What the epoch loop does for one autoencoder trial: evaluate (FID when due), log image
    grids, then after its last epoch the Latent Trick and the sampler metrics."""

    def evaluate(epoch: int) -> dict[str, float]:
        fid = fid_scorer(cfg, device) if fid_due(cfg, epoch) else None
        return evaluate_autoencoder(model, data.test, cfg.evaluation, fid, seed=cfg.seed)

    def finish(last_eval: dict[str, float]) -> bool:
        if finish_samplers(model, data, cfg, run, reporter, last_eval):  # Latent Trick, gen_*
            return True
        run.finish(Outcome.DIVERGED, **{TAG_DIVERGED_EPOCH: cfg.epochs, TAG_DIVERGED_STAGE: "lt"})
        return False

    return Member(
        cfg,
        run,
        evaluate,
        on_logged=partial(log_evaluation_images, run, model, data.test, cfg),
        after_last=finish,
    )


def uses_one_step(cfg: TrialConfig) -> bool:
    """Whether the trial's strategy runs the one training step (a set strategy)."""
    return issubclass(STRATEGIES.load(cfg.strategy.kind), SetStrategy)


def train_autoencoder(
    cfg: TrialConfig, payload: TrialPayload, reporter: Reporter, run: TrialRun
) -> str:
    """Stage 1 of every autoencoder family; returns ``finished`` or ``diverged``."""
    device = pick_device(payload.use_gpu)
    data = load_dataset(cfg.data).to(device)
    trainer: EpochTrainer
    if uses_one_step(cfg):
        stepped = stepped_trainer([cfg], data, device, run_tags=[run])
        trainer, model = stepped, stepped.member(0)
        synced = stepped.member
    else:
        module = module_trainer(cfg, data, device)
        trainer = module
        assert isinstance(module.state.model, AutoencoderModel)
        model = module.state.model
        synced = None
    member = autoencoder_member(cfg, run, reporter, data, model, device)
    if synced is not None:  # evaluation and grids read the module: copy the state in first
        evaluate = member.evaluate

        def synced_evaluate(epoch: int) -> dict[str, float]:
            synced(0)
            return evaluate(epoch)

        member.evaluate = synced_evaluate
    with restore_folder(reporter, payload.resume_from, [cfg.trial_id], [run]) as folder:
        outcomes = train_epochs(
            trainer, [member], reporter=reporter, restore=folder, checkpoint_id=cfg.trial_id
        )
    return outcomes[cfg.trial_id]
