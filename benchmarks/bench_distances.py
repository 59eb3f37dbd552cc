"""Benchmark of aesweep.distances: forward + backward time and peak memory.

For n in {64, 1024, 16384} and d in {8, 64} (float32, CPU unless --device says otherwise) it
times one forward + backward pass of every kernel/sliced distance, side by side with

- a naive dense implementation written here (all n² distances in one matrix, plain autograd);
- for sliced Wasserstein, POT's ``ot.sliced_wasserstein_distance`` on the same directions
  (torch backend, so it backpropagates; POT returns the p-th root, so its value is raised to
  the power p before the backward pass).

Peak memory at the largest n is measured in a fresh subprocess per case as the growth of the
process's peak resident set size over the forward + backward pass, after the inputs exist: the
peak (``VmHWM`` of /proc/self/status) is reset through /proc/self/clear_refs just before the
call, and the reported figure is VmHWM after the call minus VmRSS before it (Linux only; on
CUDA it reports the growth of ``torch.cuda.max_memory_allocated`` instead). This counts every
allocation of the process (torch CPU tensors are invisible to tracemalloc).

The dense kernel distances are skipped at n = 16,384: one n x n float32 matrix is 1 GiB and
plain autograd keeps several per term (3 to 20 GiB per distance), too much for a shared
machine; their memory column shows instead what they take at n = 4,096. The dense sliced
version is not quadratic (sorting n projections) and runs at every n.

Timings are medians over interleaved rounds (see ``time_cases``); on a shared machine load from
other processes still shows up, so compare the ratios within one row.

Usage::

    python benchmarks/bench_distances.py            # the full grid (minutes on 2 cores)
    python benchmarks/bench_distances.py --quick    # n in {64, 1024}, d = 64, no memory runs
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

# On a shared (oversubscribed) machine, OpenMP threads that spin-wait at barriers make every
# torch op 10-100x slower while other processes run; passive waiting keeps the figures sane.
# Set before torch loads its OpenMP runtime; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

if __package__ in (None, ""):  # run as a script from anywhere: make the repo importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aesweep.distances import (  # noqa: E402
    cw_distance,
    cw_normality,
    mmd_imq,
    mmd_rbf,
    random_directions,
    sliced_wasserstein,
)

SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
GAMMA = 0.05
BANDWIDTH = 2.0
N_PROJ = 50
DENSE_MAX_N = 4096  # the dense kernel distances build n x n matrices; skipped above this
QUADRATIC = ("mmd_imq", "mmd_rbf", "cw_normality", "cw_distance")


# ----------------------------------------------------------------------------- naive dense
def _d2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    sq_a, sq_b = a.square().sum(1), b.square().sum(1)
    return (sq_a[:, None] + sq_b[None, :] - 2.0 * a @ b.T).clamp_min(0.0)


def dense_mmd_imq(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    dxx, dyy, dxy = _d2(x, x), _d2(y, y), _d2(x, y)
    total = x.new_zeros(())
    for s in SCALES:
        c = 2.0 * d * s
        kxx, kyy, kxy = c / (c + dxx), c / (c + dyy), c / (c + dxy)
        total = total + (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        total = total + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        total = total - 2.0 * kxy.sum() / (n * m)
    return total


def dense_mmd_rbf(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    n, m = x.shape[0], y.shape[0]
    h2 = BANDWIDTH**2
    kxx, kyy, kxy = (torch.exp(-_d2(a, b) / h2) for a, b in ((x, x), (y, y), (x, y)))
    return (
        (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        - 2.0 * kxy.sum() / (n * m)
    )


def dense_cw_normality(z: torch.Tensor) -> torch.Tensor:
    n, d = z.shape
    g = (4.0 / (3.0 * n)) ** 0.4
    k = 1.0 / (2.0 * d - 3.0)
    a = torch.rsqrt(g + k * _d2(z, z)).sum() / n**2
    b = 2.0 / n * torch.rsqrt(g + 0.5 + k * z.square().sum(1)).sum()
    return (1.0 + g) ** -0.5 + a - b


def dense_cw_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    n, dim = x.shape
    m = y.shape[0]

    def phi(d2: torch.Tensor) -> torch.Tensor:
        return torch.rsqrt(1.0 + 4.0 * (d2 / (4.0 * GAMMA)) / (2.0 * dim - 3.0))

    inner = (
        phi(_d2(x, x)).sum() / n**2
        + phi(_d2(y, y)).sum() / m**2
        - 2 * phi(_d2(x, y)).sum() / (n * m)
    )
    return inner / (2.0 * math.sqrt(math.pi * GAMMA))


def dense_sliced(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    xs = torch.sort(theta @ x.T, dim=1).values
    ys = torch.sort(theta @ y.T, dim=1).values
    return (xs - ys).square().mean()


def pot_sliced(x: torch.Tensor, y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    import ot

    # POT returns (mean_l W_2^2)^(1/2); square it to compare with sliced_wasserstein.
    return ot.sliced_wasserstein_distance(x, y, projections=theta.T, p=2) ** 2


# ----------------------------------------------------------------------------- cases
Case = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

CASES: dict[str, dict[str, Case | None]] = {
    "mmd_imq": {
        "ours": lambda x, y, t: mmd_imq(x, y),
        "dense": lambda x, y, t: dense_mmd_imq(x, y),
        "pot": None,
    },
    "mmd_rbf": {
        "ours": lambda x, y, t: mmd_rbf(x, y, bandwidth=BANDWIDTH),
        "dense": lambda x, y, t: dense_mmd_rbf(x, y),
        "pot": None,
    },
    "cw_normality": {
        "ours": lambda x, y, t: cw_normality(x),
        "dense": lambda x, y, t: dense_cw_normality(x),
        "pot": None,
    },
    "cw_distance": {
        "ours": lambda x, y, t: cw_distance(x, y, gamma=GAMMA),
        "dense": lambda x, y, t: dense_cw_distance(x, y),
        "pot": None,
    },
    "sliced_wasserstein": {
        "ours": lambda x, y, t: sliced_wasserstein(x, y, projections=t),
        "dense": lambda x, y, t: dense_sliced(x, y, t),
        "pot": lambda x, y, t: pot_sliced(x, y, t),
    },
}


def make_inputs(n: int, d: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(n * 1000 + d)
    x = torch.randn(n, d, generator=g).to(device).requires_grad_(True)
    y = (torch.randn(n, d, generator=g) + 0.5).to(device)
    theta = random_directions(N_PROJ, d, generator=g).to(device)
    return x, y, theta


def _skip_dense(name: str, kind: str, n: int) -> bool:
    return kind == "dense" and name in QUADRATIC and n > DENSE_MAX_N


def run_once(fn: Case, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> float:
    x.grad = None
    if x.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    value = fn(x, y, t)
    value.backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def time_cases(
    fns: dict[str, Case], x: torch.Tensor, y: torch.Tensor, t: torch.Tensor, budget_s: float
) -> dict[str, float]:
    """Median seconds per forward + backward of each implementation.

    The implementations are run in interleaved rounds (one call of each per round, after one
    warm-up call each, the order rotating from round to round), so that load from other
    processes on a shared machine, and cache effects of the previous call, hit them alike.
    """
    first = {k: run_once(fn, x, y, t) for k, fn in fns.items()}
    per_round = max(sum(first.values()), 1e-5)
    rounds = max(3, min(200, int(budget_s / per_round)))
    samples: dict[str, list[float]] = {k: [] for k in fns}
    order = list(fns)
    for r in range(rounds):
        for k in order[r % len(order) :] + order[: r % len(order)]:  # rotate who goes first
            samples[k].append(run_once(fns[k], x, y, t))
    return {k: statistics.median(v) for k, v in samples.items()}


def check_values(name: str, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor) -> None:
    ours = CASES[name]["ours"]
    assert ours is not None
    ref = float(ours(x, y, t).detach())
    for kind in ("dense", "pot"):
        fn = CASES[name][kind]
        if fn is None or _skip_dense(name, kind, x.shape[0]):
            continue
        other = float(fn(x, y, t).detach())
        if not math.isclose(ref, other, rel_tol=2e-3, abs_tol=1e-6):
            raise SystemExit(f"{name}: ours {ref} differs from {kind} {other}")


def memory_child(name: str, kind: str, n: int, d: int, device: str) -> None:
    """Run one case once and print the peak-memory growth in bytes (subprocess entry)."""
    x, y, t = make_inputs(n, d, device)
    fn = CASES[name][kind]
    assert fn is not None
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.max_memory_allocated()
        run_once(fn, x, y, t)
        print(json.dumps({"peak_bytes": torch.cuda.max_memory_allocated() - base}))
        return
    # Linux: writing 5 to /proc/self/clear_refs resets the peak RSS (VmHWM) to the current RSS,
    # so the peak of this call is not hidden by an earlier peak (imports, input creation).
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = _proc_status_kib("VmRSS")
    run_once(fn, x, y, t)
    peak = _proc_status_kib("VmHWM")
    print(json.dumps({"peak_bytes": (peak - base) * 1024}))


def _proc_status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def measure_memory(name: str, kind: str, n: int, d: int, device: str) -> str:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", name, kind, str(n), str(d)]
    cmd += ["--device", device]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return f"failed ({out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode})"
    peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"]
    return f"{peak / 2**20:.0f} MiB"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n in {64, 1024}, d = 64 only")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument(
        "--budget", type=float, default=2.0, help="seconds of timing per case (>= 3 rounds)"
    )
    parser.add_argument("--memory-child", nargs=4, metavar=("NAME", "KIND", "N", "D"))
    args = parser.parse_args()
    if args.memory_child:
        name, kind, n, d = args.memory_child
        memory_child(name, kind, int(n), int(d), args.device)
        return

    ns = (64, 1024) if args.quick else (64, 1024, 16384)
    ds = (64,) if args.quick else (8, 64)
    big = max(ns)
    print(
        f"# bench_distances  {datetime.date.today().isoformat()}  torch {torch.__version__}  "
        f"device {args.device}  threads {torch.get_num_threads()}  "
        f"cpu {_cpu_name()} x {os.cpu_count()}  OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}  "
        f"load average {_loadavg()}"
    )
    print()
    print("| distance | n | d | ours | naive dense | ours / dense | POT | ours / POT |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in CASES:
        for n in ns:
            for d in ds:
                x, y, t = make_inputs(n, d, args.device)
                check_values(name, x, y, t)
                fns = {
                    kind: fn
                    for kind, fn in CASES[name].items()
                    if fn is not None and not _skip_dense(name, kind, n)
                }
                measured = time_cases(fns, x, y, t, args.budget)
                times: dict[str, float | None] = {k: measured.get(k) for k in CASES[name]}
                ours = times["ours"]
                assert ours is not None
                skip = _skip_dense(name, "dense", n)
                dense = "skipped (n² too large)" if skip else fmt_time(times["dense"])
                r_dense = f"{ours / times['dense']:.2f}" if times["dense"] else "-"
                r_pot = f"{ours / times['pot']:.2f}" if times["pot"] else "-"
                print(
                    f"| {name} | {n} | {d} | {fmt_time(ours)} | {dense} | {r_dense} | "
                    f"{fmt_time(times['pot'])} | {r_pot} |",
                    flush=True,
                )
    print()
    print(f"load average at the end of the timings: {_loadavg()}")
    if args.no_memory or args.quick:
        return
    print()
    print(f"Peak extra memory of one forward + backward at n = {big} (VmHWM - VmRSS before):")
    print()
    print("| distance | d | ours | naive dense | POT |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in CASES:
        for d in ds:
            cells = []
            for kind in ("ours", "dense", "pot"):
                if CASES[name][kind] is None:
                    cells.append("-")
                elif _skip_dense(name, kind, big):
                    # what n² costs: the dense version at the largest n it runs at
                    mem = measure_memory(name, kind, DENSE_MAX_N, d, args.device)
                    cells.append(f"skipped ({mem} at n = {DENSE_MAX_N})")
                else:
                    cells.append(measure_memory(name, kind, big, d, args.device))
            print(f"| {name} | {d} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
