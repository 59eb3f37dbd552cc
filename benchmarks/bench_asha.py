"""Early stopping: the quickstart's family grid over lr with ASHA (grace 5, factor 3) against the
full grid, through Ray on this machine.

Both sweeps run the quickstart's three families on digits for its 30 epochs over the same lr
grid; printed: total trial-epochs (the epochs every trial trained), wall time, what ASHA saved,
and, per family, the lr each sweep selects (the lowest final test cost of the trials that ran
to the end) and whether it is the same.
Usage: python benchmarks/bench_asha.py [--lrs 0.003,0.001,0.0003,0.0001,3e-05,1e-05]
[--epochs 30] [--grace 5] [--factor 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import yaml  # noqa: E402

from aesweep.sweeps.plan import plan  # noqa: E402
from aesweep.sweeps.results import group_row, result_groups  # noqa: E402
from aesweep.sweeps.spec import SweepSpec  # noqa: E402
from aesweep.sweeps.submission import run_sweep  # noqa: E402
from aesweep.tracking.store import SweepStore  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def spec(tmp: str, name: str, lrs: list[float], epochs: int, asha: dict | None) -> SweepSpec:
    raw = yaml.safe_load((REPO / "specs" / "quickstart.yaml").read_text())
    raw.update(
        name=name,
        optimizer={**raw["optimizer"], "lr": lrs},
        epochs=epochs,
        tracking={"uri": f"sqlite:///{tmp}/{name}.db", "storage": f"{tmp}/runs"},
    )
    raw["evaluation"] = {**raw["evaluation"], "images": False}
    if asha is not None:
        raw["search"] = {"scheduler": {"kind": "asha", **asha}}
    return SweepSpec.model_validate(raw)


def measure(s: SweepSpec) -> tuple[int, float, dict[str, float | None]]:
    trials = plan(s)
    t0 = time.perf_counter()
    out = run_sweep(s, trials, "bench")
    wall = time.perf_counter() - t0
    assert out.ok, out.outcomes
    store = SweepStore(s.tracking.uri, s.experiment)
    records = store.latest_by_trial([t.trial_id for t in trials])
    epochs = sum(int(r.metrics.get("epoch", 0)) for r in records.values())
    selected = {row["model"]: row["lr"] for row in map(group_row, result_groups(s, trials, store))}
    return epochs, wall, selected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lrs", default="0.003,0.001,0.0003,0.0001,3e-05,1e-05")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--grace", type=int, default=5)
    parser.add_argument("--factor", type=float, default=3.0)
    args = parser.parse_args()
    lrs = [float(x) for x in args.lrs.split(",")]
    asha = {"grace_period": args.grace, "reduction_factor": args.factor}
    with tempfile.TemporaryDirectory() as tmp:
        full_epochs, full_wall, full_sel = measure(spec(tmp, "full", lrs, args.epochs, None))
        asha_epochs, asha_wall, asha_sel = measure(spec(tmp, "asha", lrs, args.epochs, asha))
    n = 3 * len(lrs)
    print(f"{n} trials (3 families x {len(lrs)} lr), {args.epochs} epochs, CPUs {os.cpu_count()}")
    print(f"full grid: {full_epochs} trial-epochs, {full_wall:.1f} s")
    print(
        f"ASHA (grace {args.grace}, factor {args.factor:g}): {asha_epochs} trial-epochs, "
        f"{asha_wall:.1f} s"
    )
    print(
        f"saved: {1 - asha_epochs / full_epochs:.0%} of trial-epochs, "
        f"{1 - asha_wall / full_wall:.0%} of wall time"
    )
    for model, lr in full_sel.items():
        other = asha_sel.get(model)
        print(f"  {model}: full grid selects lr {lr}, ASHA lr {other}: same {lr == other}")


if __name__ == "__main__":
    main()
