"""Sweep scale: plan and prepare time and driver memory at 1,000 and 10,000 trials, and a real
sweep of hundreds of tiny trials through Ray Tune with the overhead each trial pays.

* plan: ``aesweep plan`` (the spec loaded and expanded, packs formed, every trial printed) of
  a digits grid of WAE-MMD lr x lambda values, in a fresh process each (its peak RSS is the
  driver's memory; the interpreter and imports alone are reported apart);
* prepare: the driver's MLflow records of that many trials against a real SQLite store in a
  temporary folder (one read of the experiment, the parent run, a child run per trial),
  timed apart from the plan and the store's creation; then the same submission again (every
  trial's run goes on: nothing created);
* sweep: N one-epoch trials (digits, 64 training images, CWAE, 1 CPU each, packs off) through
  Ray Tune on this machine. The overhead per trial is the sweep's wall time x its concurrent
  trials (CPUs / CPUs per trial), less the trials' own training and evaluation time (their
  ``epoch_seconds`` + ``eval_seconds`` in MLflow), over N; set against a 1-minute trial.

Usage: python benchmarks/bench_scale.py [--sizes 1000 10000] [--sweep 500] [--no-sweep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

REPO = Path(__file__).resolve().parents[1]


def grid_spec(n: int, folder: Path, name: str = "scale") -> dict[str, Any]:
    """A digits grid of ``n`` = lr values x lambda values trials (a square-ish grid)."""
    n_lambda = 10 if n <= 1000 else 100
    n_lr = n // n_lambda
    return {
        "name": name,
        "data": {"dataset": "digits", "train_size": 64, "test_size": 32},
        "models": [
            {
                "family": "wae_mmd",
                "latent_dim": 8,
                "lambda": [round(1.0 + 0.1 * k, 4) for k in range(n_lambda)],
            }
        ],
        "strategies": [{"kind": "minibatch", "batch_size": 32}],
        "optimizer": {"name": "adam", "lr": [round(1e-4 * (1 + 0.01 * k), 8) for k in range(n_lr)]},
        "epochs": 1,
        "evaluation": {"every": 1, "latent_samples": 32},
        "tracking": {
            "uri": f"sqlite:///{folder / 'mlflow.db'}",
            "experiment": name,
            "storage": str(folder / "runs"),
        },
    }


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_plan(n: int, folder: Path) -> dict[str, float]:
    import yaml

    from aesweep.sweeps.cli import main

    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(grid_spec(n, folder)))
    base = peak_mb()
    t0 = time.perf_counter()
    with open(os.devnull, "w") as sink:
        saved, sys.stdout = sys.stdout, sink
        try:
            assert main(["plan", str(path)]) == 0
        finally:
            sys.stdout = saved
    return {"seconds": time.perf_counter() - t0, "peak_mb": peak_mb(), "base_mb": base}


def phase_prepare(n: int, folder: Path) -> dict[str, float]:
    import yaml

    from aesweep.sweeps.load import load_plan
    from aesweep.sweeps.prepare import prepare
    from aesweep.tracking.store import SweepStore

    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(grid_spec(n, folder)))
    spec, trials = load_plan(path)
    SweepStore(spec.tracking.uri, spec.experiment).ensure_experiment()  # the store: apart
    base = peak_mb()
    t0 = time.perf_counter()
    prep = prepare(spec, trials, path.read_text())
    first = time.perf_counter() - t0
    assert len(prep.run_ids) == n
    t0 = time.perf_counter()
    again = prepare(spec, trials, path.read_text())
    second = time.perf_counter() - t0
    assert again.run_ids == prep.run_ids
    return {"seconds": first, "again_seconds": second, "peak_mb": peak_mb(), "base_mb": base}


def sweep_spec(n: int, folder: Path) -> dict[str, Any]:
    n_lambda = 10
    return {
        "name": "scale-sweep",
        "data": {"dataset": "digits", "train_size": 64, "test_size": 32},
        "models": [
            {
                "family": "cwae",
                "latent_dim": 8,
                "lambda": [round(1.0 + 0.1 * k, 4) for k in range(n_lambda)],
            }
        ],
        "strategies": [{"kind": "minibatch", "batch_size": 32}],
        "optimizer": {
            "name": "adam",
            "lr": [round(1e-4 * (1 + 0.01 * k), 8) for k in range(-(-n // n_lambda))],
        },
        "epochs": 1,
        "evaluation": {
            "every": 1,
            "latent_samples": 32,
            "mmd_draws": 1,
            "cw_subsets": 1,
            "images": False,
        },
        "compute": {"pack": "off"},
        "resources": {"cpus_per_trial": 1},
        "tracking": {
            "uri": f"sqlite:///{folder / 'mlflow.db'}",
            "experiment": "scale-sweep",
            "storage": str(folder / "runs"),
        },
    }


def phase_sweep(n: int, folder: Path) -> dict[str, float]:
    import ray

    from aesweep.sweeps.plan import plan
    from aesweep.sweeps.spec import SweepSpec
    from aesweep.sweeps.submission import run_sweep
    from aesweep.tracking.store import SweepStore

    spec = SweepSpec.model_validate(sweep_spec(n, folder))
    trials = plan(spec)[:n]
    cpus = os.cpu_count() or 1
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = run_sweep(spec, trials, "bench")
    wall = time.perf_counter() - t0
    ray.shutdown()
    records = SweepStore(spec.tracking.uri, spec.experiment).latest_by_trial(
        [t.trial_id for t in trials]
    )
    work = sum(
        r.metrics.get("epoch_seconds", 0.0) + r.metrics.get("eval_seconds", 0.0)
        for r in records.values()
    )
    slots = cpus // int(spec.resources.cpus_per_trial)
    return {
        "trials": len(trials),
        "finished": sum(1 for r in records.values() if r.finished),
        "ok": float(out.ok),
        "wall": wall,
        "ray_init": init_s,
        "work": work,
        "slots": slots,
        "peak_mb": peak_mb(),
    }


PHASES = {"plan": phase_plan, "prepare": phase_prepare, "sweep": phase_sweep}


def run_phase(phase: str, n: int) -> dict[str, float]:
    """One phase in a fresh process (its peak RSS is that phase's alone)."""
    cmd = [sys.executable, __file__, "--phase", phase, "--n", str(n)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{phase} {n} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000])
    parser.add_argument("--sweep", type=int, default=500, help="trials of the Ray sweep")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(PHASES[args.phase](args.n, Path(tmp))))
        return
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print("| phase | trials | seconds | ms per trial | driver peak RSS MB (before the phase) |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        for phase in ("plan", "prepare"):
            r = run_phase(phase, n)
            print(
                f"| {phase} | {n} | {r['seconds']:.1f} | {1000 * r['seconds'] / n:.2f} | "
                f"{r['peak_mb']:.0f} ({r['base_mb']:.0f}) |",
                flush=True,
            )
            if phase == "prepare":
                again = r["again_seconds"]
                print(
                    f"| prepare again (all resume) | {n} | {again:.1f} | "
                    f"{1000 * again / n:.2f} | |",
                    flush=True,
                )
    if args.no_sweep:
        return
    r = run_phase("sweep", args.sweep)
    n = r["trials"]
    overhead = (r["wall"] * r["slots"] - r["work"]) / n
    print(
        f"\nRay sweep: {n:.0f} trials ({r['finished']:.0f} finished), {r['slots']:.0f} at once; "
        f"wall {r['wall']:.0f} s (+ ray.init {r['ray_init']:.1f} s); the trials' own training "
        f"and evaluation {r['work']:.0f} s in all ({r['work'] / n:.2f} s each); overhead "
        f"{overhead:.2f} s per trial = {100 * overhead / 60:.1f}% of a 1-minute trial; "
        f"driver peak RSS {r['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
