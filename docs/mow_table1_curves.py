"""Draw the learning curves of the MoW Table 1 reproduction (docs/reproduction.md) from MLflow.

Run from the repository root after the five specs in specs/repro/mow_table1_*.yaml have run:
    .venv/bin/python docs/mow_table1_curves.py
Writes docs/mow_table1_curves.png: test rec error, WAE (MMD) distance and CW distance over the
epochs, one line per (model, k).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from aesweep.sweeps.load import load_plan  # noqa: E402
from aesweep.tracking.store import SweepStore  # noqa: E402

SPECS = sorted(Path("specs/repro").glob("mow_table1_*.yaml"))
METRICS = ("rec_error", "wae_distance", "cw_distance")
OUT = Path("docs/mow_table1_curves.png")


def main() -> None:
    fig, axes = plt.subplots(1, len(METRICS), figsize=(15, 4.2), dpi=100)
    styles = {64: "-", 32: "--", 1: ":"}
    for path in SPECS:
        spec, trials = load_plan(path)
        store = SweepStore(spec.tracking.uri, spec.experiment)
        records = store.latest_by_trial([t.trial_id for t in trials])
        for t in trials:
            rec = records.get(t.trial_id)
            if rec is None or not rec.finished:
                continue
            k = getattr(t.strategy, "fresh", None)
            label = f"{t.model.family}, k = {k}, lr {t.optimizer.lr:g}"
            for ax, metric in zip(axes, METRICS, strict=True):
                history = sorted(store.metric_history(rec.run_id, metric))
                ax.plot(
                    [s for s, _ in history],
                    [v for _, v in history],
                    styles.get(k, "-"),
                    label=label,
                )
    for ax, metric in zip(axes, METRICS, strict=True):
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.suptitle("MoW Table 1 reproduction on MNIST (test split; 20 epochs of the paper's 500)")
    fig.tight_layout()
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
