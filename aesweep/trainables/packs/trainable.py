"""One pack: N trials of one family, architecture and strategy trained as one vectorized
computation, each member still a trial with its own MLflow run.

Member i is built as its unpacked trial builds it (``torch.manual_seed(seed_i)``, then the
networks); its random stream then moves to a generator of its own, from which every later draw
of its trial (the epoch's image order, prior samples, SW directions, the moving window's
refill) is made in the same order. Per epoch: each member's rate from its schedule, one
packed epoch (the losses of the members summed, one backward and one vectorized update), then
per member what :func:`aesweep.trainables.epochs.train_epochs` does for a trial: its metrics,
divergence (a member with a non-finite loss or metric is logged, its run ends ``diverged`` at
that epoch and it is masked out while the others go on), evaluation on its own module and
image grids. The pack checkpoints and reports as one trial; a checkpoint holds every member's
rows by trial id, so a pack of some of its members (the unfinished ones of a resubmitted
spec) resumes from it.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from aesweep.config.packs import PackPayload
from aesweep.config.trial import TrialConfig
from aesweep.data.base import TensorDataset
from aesweep.data.loading import load_dataset
from aesweep.models.loading import build_autoencoder
from aesweep.models.packed import PackedAutoencoder
from aesweep.tracking.store import TAG_DIVERGED_EPOCH, TrialRun
from aesweep.tracking.system_metrics import system_metrics
from aesweep.trainables.checkpoint_files import MEMBERS_FILE, write_meta
from aesweep.trainables.epochs import all_finite, evaluation_due
from aesweep.trainables.evaluation import evaluate_autoencoder
from aesweep.trainables.images import log_evaluation_images
from aesweep.trainables.latent_generator import finish_samplers
from aesweep.trainables.optimizers import pick_device
from aesweep.trainables.packs.optim import PackedOptimizer, build_packed_optimizer
from aesweep.trainables.packs.step import PackStep
from aesweep.trainables.packs.strategies import PackedStrategy
from aesweep.trainables.protocol import protocol_params
from aesweep.trainables.reporting import Reporter

PACK_FILE = "pack.pt"
TAG_PACK = "aesweep.pack"


def _global_state(device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.get_rng_state()


def build_members(
    trials: Sequence[TrialConfig], data: TensorDataset, device: torch.device
) -> tuple[PackedAutoencoder, list[torch.Generator]]:
    """Each member's networks as its trial builds them, and its generator holding the RNG
    state its trial has after that. (The loaders draw nothing from the global RNG, so the
    data is loaded once for the pack.)"""
    models, generators = [], []
    for cfg in trials:
        torch.manual_seed(cfg.seed)
        models.append(build_autoencoder(cfg.model, data).to(device))
        g = torch.Generator(device=device)
        g.set_state(_global_state(device))
        generators.append(g)
    return PackedAutoencoder(models), generators


class PackState:
    """What a pack's checkpoint holds, every per-member tensor with the members along dim 0."""

    def __init__(
        self,
        ids: list[str],
        pack: PackedAutoencoder,
        optimizer: PackedOptimizer,
        strategy: PackedStrategy,
        generators: list[torch.Generator],
    ) -> None:
        self.ids, self.pack, self.optimizer, self.strategy = ids, pack, optimizer, strategy
        self.generators = generators
        self.active = torch.ones(len(ids), dtype=torch.bool, device=pack.device)

    def save(self, folder: Path, epoch: int) -> None:
        state = {
            "epoch": epoch,
            "members": self.ids,
            "model": self.pack.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "strategy": self.strategy.state_dict(),
            "generators": torch.stack([g.get_state() for g in self.generators]),
            "active": self.active.cpu(),
        }
        torch.save(state, folder / PACK_FILE)
        (folder / MEMBERS_FILE).write_text(json.dumps({"members": self.ids, "epoch": epoch}))

    def load(self, folder: Path) -> int:
        """Restore the rows of this pack's members from a checkpoint of a pack that held
        them all (possibly more); returns its epoch."""
        state = torch.load(folder / PACK_FILE, map_location="cpu", weights_only=True)
        rows = [state["members"].index(i) for i in self.ids]
        index = torch.tensor(rows)
        pick = lambda t: _rows(t, index)  # noqa: E731
        self.pack.load_state_dict(state["model"], rows)
        self.optimizer.load_state_dict(_map(state["optimizer"], pick))
        self.strategy.load_state_dict(_map(state["strategy"], pick), self.pack.device)
        for g, s in zip(self.generators, pick(state["generators"]), strict=True):
            g.set_state(s.clone())  # its own storage: set_state ignores a view's offset
        self.active = pick(state["active"]).to(self.pack.device)
        return int(state["epoch"])


def _rows(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return t.index_select(0, index)


def _map(obj: Any, fn: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map(v, fn) for v in obj]
    return obj


def train_pack(
    payload: PackPayload,
    reporter: Reporter,
    runs: Sequence[TrialRun],
    *,
    data: TensorDataset | None = None,
    outcomes: dict[str, str] | None = None,
) -> dict[str, str]:
    """Train the pack's members; returns each member's outcome by trial id (every member's
    run is finished, ``finished`` or ``diverged``). ``data``: the loaded dataset (tests
    hand one in float64), else the first member's ``data`` config is loaded. ``outcomes`` is
    filled as members end (the caller's record when an exception cuts the pack short)."""
    trials = [m.trial for m in payload.members]
    ids = [t.trial_id for t in trials]
    device = pick_device(payload.use_gpu)
    if data is None:
        data = load_dataset(trials[0].data)
    data = data.to(device)
    pack, generators = build_members(trials, data, device)
    optimizer = build_packed_optimizer(pack.parameter_list(), [t.optimizer for t in trials])
    strategy = PackedStrategy(trials[0].strategy.kind, trials[0].strategy)
    state = PackState(ids, pack, optimizer, strategy, generators)
    cfg0 = trials[0]

    start_epoch = 0
    folder = _restore_folder(reporter, payload)
    if folder is not None:
        start_epoch = state.load(folder)
        for run in runs:
            run.set_tags({"aesweep.resumed_from_epoch": start_epoch})
    logged = [run.last_logged_step() if start_epoch else 0 for run in runs]
    outcomes = {} if outcomes is None else outcomes
    for tid, alive in zip(ids, state.active.tolist(), strict=True):
        outcomes[tid] = "running" if alive else "diverged"

    last_eval: list[dict[str, float]] = [{} for _ in trials]
    # On CUDA the forward and backward replay as a CUDA graph where the family allows it.
    step = PackStep(pack, optimizer, generators, state.active, cuda_graph=device.type == "cuda")

    for epoch in range(start_epoch + 1, cfg0.epochs + 1):
        t0 = time.perf_counter()
        rates = optimizer.set_epoch(epoch)
        assert isinstance(data.train, torch.Tensor)  # packs take in-memory data only
        sums = strategy.train_epoch(pack, data.train, generators, step)
        means = sums.means()
        seconds = time.perf_counter() - t0
        nonfinite = sums.diverged()
        evaluated_any = False
        for i, (cfg, run) in enumerate(zip(trials, runs, strict=True)):
            if outcomes[cfg.trial_id] != "running":
                continue
            metrics = dict(means[i])
            metrics["epoch_seconds"] = seconds  # the pack's epoch: all members together
            if rates is not None:
                metrics["lr"] = rates[i]
            diverged = nonfinite[i]
            evaluated = not diverged and evaluation_due(cfg, epoch)
            if evaluated:
                evaluated_any = True
                t1 = time.perf_counter()
                metrics.update(
                    evaluate_autoencoder(
                        pack.sync_member(i), data.test, cfg.evaluation, None, seed=cfg.seed
                    )
                )
                metrics["eval_seconds"] = time.perf_counter() - t1
                diverged = not all_finite(metrics)
                last_eval[i] = metrics
            metrics["epoch"] = epoch
            if diverged:
                run.log_metrics(metrics, step=epoch)
                run.finish("diverged", **{TAG_DIVERGED_EPOCH: epoch})
                outcomes[cfg.trial_id] = "diverged"
                state.active[i] = False
                continue
            if evaluated and epoch > logged[i]:
                run.log_metrics(metrics, step=epoch)
                log_evaluation_images(run, pack.members[i], data.test, cfg, epoch)
        active = int(state.active.sum())
        report = {"epoch": float(epoch), "members_active": float(active), "diverged": 0.0}
        if active == 0:
            report["diverged"] = 1.0
            reporter.report(report)
            break
        if epoch % cfg0.checkpoint.every == 0 or epoch == cfg0.epochs:
            with tempfile.TemporaryDirectory() as tmp:
                state.save(Path(tmp), epoch)
                write_meta(Path(tmp), payload.pack_id, epoch)
                reporter.report(report, checkpoint_dir=tmp)
        elif evaluated_any:
            reporter.report(report)
    for i, (cfg, run) in enumerate(zip(trials, runs, strict=True)):
        if outcomes[cfg.trial_id] != "running":
            continue
        # The gen_* metrics at the last step, as the unpacked trial logs them (packs have no
        # Latent Trick); reported with the pack, not per member.
        finish_samplers(pack.sync_member(i), data, cfg, run, _Quiet(), last_eval[i])
        run.finish("finished")
        outcomes[cfg.trial_id] = "finished"
    return outcomes


class _Quiet:
    """A reporter for what a member would report on its own: the pack reports once."""

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        return None

    def restore_dir(self) -> None:
        return None

    def node(self) -> None:
        return None


def _restore_folder(reporter: Reporter, payload: PackPayload) -> Path | None:
    """Ray's own checkpoint of this pack (a retried trial), else the one the driver found."""
    checkpoint = reporter.restore_dir()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            # Copied out: the directory may go away when the context ends.
            keep = Path(tempfile.mkdtemp(prefix="aesweep-pack-"))
            for name in (PACK_FILE, MEMBERS_FILE):
                (keep / name).write_bytes((Path(folder) / name).read_bytes())
            return keep
    return Path(payload.resume_from) if payload.resume_from else None


def run_pack(payload: PackPayload, reporter: Reporter) -> dict[str, str]:
    """A pack's MLflow lifecycle: every member's run started and tagged with the pack's id
    (an exception ends each unfinished member's run failed, or killed, and propagates). The
    node's system metrics go to every member (one process trains them all), sampled while
    the first member's run is RUNNING."""
    torch.set_num_threads(payload.threads)
    runs = [TrialRun(m.tracking_uri, m.run_id) for m in payload.members]
    tags: dict[str, Any] = {
        TAG_PACK: payload.pack_id,
        "aesweep.worker_pid": os.getpid(),
        "aesweep.host": socket.gethostname(),
    }
    node = reporter.node()
    if node is not None:
        tags["aesweep.node"] = node
    for member, run in zip(payload.members, runs, strict=True):
        run.start()
        run.set_tags(tags)
        run.log_protocol(protocol_params(member.trial))
    outcomes: dict[str, str] = {}
    first = payload.members[0]
    ids = [m.run_id for m in payload.members]
    try:
        with system_metrics(first.tracking_uri, ids, first.system_metrics_s):
            return train_pack(payload, reporter, runs, outcomes=outcomes)
    except (KeyboardInterrupt, SystemExit):
        for member, run in zip(payload.members, runs, strict=True):
            if outcomes.get(member.trial.trial_id, "running") == "running":
                run.finish("killed")
        raise
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        for member, run in zip(payload.members, runs, strict=True):
            if outcomes.get(member.trial.trial_id, "running") == "running":
                run.finish("failed", **{"aesweep.error": error})
        raise
