"""The entry points Ray Tune and the inline runner call: one trial's MLflow run lifecycle.

The family's config names its training function (``ModelConfig.trainable``); both entry
points log to the trial's child run created beforehand by the driver, so records are the
same whichever runner ran the trial.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from pathlib import Path
from typing import Any

import torch

from aesweep.sweeps.plan import TrialConfig
from aesweep.tracking.store import TrialRun
from aesweep.trainables.checkpoints import InlineCheckpoints
from aesweep.trainables.reporting import InlineReporter, Reporter, TuneReporter


def run_trial(payload: dict[str, Any], reporter: Reporter) -> str:
    """Train and evaluate one trial; returns its outcome (``finished`` or ``diverged``).

    An exception marks the run FAILED (Ctrl-C or a stopped worker: KILLED) and propagates,
    so Ray can retry it.
    """
    cfg = TrialConfig.model_validate(payload["trial"])
    torch.set_num_threads(max(1, int(payload.get("threads", 1))))
    module, _, func = cfg.model.trainable.partition(":")
    train = getattr(importlib.import_module(module), func)
    run = TrialRun(payload["tracking_uri"], payload["run_id"])
    run.start()
    run.set_tags({"aesweep.worker_pid": os.getpid(), "aesweep.host": socket.gethostname()})
    try:
        return train(cfg, payload, reporter, run)
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C here, or Ray stopping its worker
        run.finish("killed")
        raise
    except BaseException as exc:
        run.finish("failed", **{"aesweep.error": f"{type(exc).__name__}: {exc}"[:500]})
        raise


def tune_trainable(config: dict[str, Any], payloads: dict[str, dict[str, Any]]) -> None:
    """The Ray Tune function trainable: ``config["trial_id"]`` picks one trial's payload."""
    for name in ("ray.train", "ray.tune"):  # one "checkpoint created" line per epoch is noise
        logging.getLogger(name).setLevel(logging.WARNING)
    run_trial(payloads[config["trial_id"]], TuneReporter())


def inline_trainable(payload: dict[str, Any]) -> str:
    """Run one trial here; checkpoints go to ``payload["inline_dir"]`` when given."""
    folder = payload.get("inline_dir")
    keep = int(payload["trial"]["checkpoint"]["keep"])
    checkpoints = InlineCheckpoints(Path(folder), keep) if folder else None
    return run_trial(payload, InlineReporter(checkpoints))
