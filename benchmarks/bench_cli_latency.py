"""CLI latency: wall time of ``aesweep validate`` and ``aesweep plan`` (goal < 1 s).

Each command runs as a fresh process, as a user types it; median of --repeat runs.
Usage: python benchmarks/bench_cli_latency.py [--spec specs/mow_mnist.yaml] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(REPO / "specs" / "mow_mnist.yaml"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    exe = shutil.which("aesweep") or str(Path(sys.executable).parent / "aesweep")
    print(f"spec {Path(args.spec).name}, median of {args.repeat} fresh processes")
    print("| command | median s | max s |")
    print("|---|---|---|")
    for cmd in (["validate"], ["plan"], ["plan", "--json"], ["--help"]):
        argv = [exe, *cmd] + ([args.spec] if cmd[0] != "--help" else [])
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        print(f"| aesweep {' '.join(cmd)} | {statistics.median(times):.3f} | {max(times):.3f} |")


if __name__ == "__main__":
    main()
