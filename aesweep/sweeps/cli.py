"""The ``aesweep`` command: validate, plan, run, results, status, ui, and fid (no spec).

Heavy modules (torch, ray, mlflow) are imported inside the commands that need them, so
``validate``, ``plan`` and ``--help`` answer at once. Bad input: one line per problem on
stderr, exit code 2, nothing started.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands import what they need when they run (validate stays light)
    from aesweep.config.trial import TrialConfig
    from aesweep.sweeps.results import ResultGroup
    from aesweep.sweeps.spec import SweepSpec
    from aesweep.tracking.store import SweepStore

EXIT_BAD_INPUT = 2
EXIT_BUSY = 75  # another submission of the experiment is running (EX_TEMPFAIL: try later)
EXIT_STORAGE = 74  # tracking.storage filled up or turned read-only mid-sweep (EX_IOERR)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aesweep",
        description="Sweeps of distribution-matching autoencoders on Ray Tune, tracked in MLflow.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_spec(name: str, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("spec", help="the sweep spec (YAML)")
        sp.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY.PATH=VALUE",
            help="override a spec field (value in YAML: --set optimizer.lr=[0.01])",
        )
        return sp

    with_spec("validate", "check a spec and print how many trials it makes")
    sp = with_spec("plan", "list every trial with the values that vary and its id")
    sp.add_argument("--json", action="store_true", help="a JSON list of {trial_id, config}")
    sp = with_spec("run", "run every trial of a spec (Ray Tune, or --inline)")
    sp.add_argument("--address", help="join a Ray cluster: 'auto' or ray://host:10001")
    sp.add_argument("--inline", action="store_true", help="run trials in this process, no Ray")
    sp.add_argument("--max-concurrent", type=int, metavar="N", help="at most N trials at once")
    sp.add_argument(
        "--verbose", action="store_true", help="Ray Tune's own output, not the compact view"
    )
    sp.add_argument(
        "--wait",
        action="store_true",
        help="if another submission of this experiment is running, wait for it (else refuse)",
    )
    sp = with_spec("results", "the paper-style table of a sweep, read from MLflow")
    sp.add_argument("--format", choices=["table", "markdown", "csv", "json"], default="table")
    sp.add_argument(
        "--paper", action="store_true", help="also the papers' published numbers for these rows"
    )
    sp.add_argument(
        "--plots", action="store_true", help="redraw the plots into the newest parent run"
    )
    sp.add_argument(
        "--stopping",
        action="store_true",
        help="was early stopping safe: rung-vs-final Spearman correlation, same selection?",
    )
    sp.add_argument(
        "--importance",
        action="store_true",
        help="which varying axes mattered for the selection metric, per row and for the sweep "
        "(also logged on the newest parent run: importance.* metrics, plots/importance.png)",
    )
    sp.add_argument(
        "--evaluator",
        default="ped-anova",
        metavar="NAME",
        help="--importance's Optuna evaluator: ped-anova (default, fast) or fanova",
    )
    sp.add_argument(
        "--include-stopped",
        action="store_true",
        help="let trials stopped early by the scheduler be selected (their metric is earlier)",
    )
    with_spec("status", "each trial's state (pending, running, finished, diverged, failed)")
    sp = with_spec("ui", "start the MLflow UI on 127.0.0.1 for the spec's tracking store")
    sp.add_argument("--port", type=int, default=5000)
    sp.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1 only)")
    sp.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    _add_fid_parser(sub)
    help = "print the JSON Schema of a spec (for editors: specs/aesweep.schema.json)"
    sub.add_parser("schema", help=help, description=help)
    return p


def _add_fid_parser(sub: argparse._SubParsersAction) -> None:
    help = "FID between two sources (dataset:split, image folder, .npz of mu/sigma); no spec"
    sp = sub.add_parser("fid", help=help, description=help)
    sp.add_argument("a", metavar="A", help="mnist:test, digits:train, a folder, or stats.npz")
    sp.add_argument(
        "b", metavar="B", nargs="?", help="the other source (optional with --save-stats)"
    )
    sp.add_argument("--samples", type=int, default=10_000, metavar="N", help="images per source")
    sp.add_argument("--batch-size", type=int, default=50, metavar="N")
    sp.add_argument("--weights", metavar="PATH", help="TorchScript Inception (else searched)")
    sp.add_argument("--cache-dir", default="~/.cache/aesweep/fid", metavar="DIR")
    sp.add_argument("--data-root", metavar="DIR", help="dataset folder (mnist's data.root)")
    sp.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    sp.add_argument("--save-stats", metavar="OUT.npz", help="also save A's mu and sigma")
    sp.add_argument("--progress", action="store_true", help="progress bar even when not a tty")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fid":
        return _fid(args)
    if args.command == "schema":
        return _schema()
    from aesweep.sweeps.load import SpecError, load_plan

    try:
        spec, trials = load_plan(args.spec, args.overrides)
    except SpecError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    handler = {
        "validate": _validate,
        "plan": _plan,
        "run": _run,
        "results": _results,
        "status": _status,
        "ui": _ui,
    }
    return handler[args.command](args, spec, trials)


def _validate(args: argparse.Namespace, spec: SweepSpec, trials: list[TrialConfig]) -> int:
    from aesweep.sweeps.plan import summary

    print(summary(spec, trials))
    return 0


def _plan(args: argparse.Namespace, spec: SweepSpec, trials: list[TrialConfig]) -> int:
    from aesweep.config.executors import choose_executor
    from aesweep.config.packs import form_packs
    from aesweep.sweeps.packing import refusal
    from aesweep.sweeps.plan import summary, varying_keys

    packs = form_packs(trials, refused=refusal(spec))
    pack_of = packs.pack_of()
    executors = {t.trial_id: choose_executor(t) for t in trials}
    if args.json:
        rows = [
            {
                "trial_id": t.trial_id,
                "config": t.resolved_view(),
                "pack": pack_of.get(t.trial_id),
                "unpacked": packs.alone.get(t.trial_id),
                "executor": {
                    "kind": executors[t.trial_id].kind,
                    "unroll": executors[t.trial_id].unroll,
                    "why": executors[t.trial_id].why,
                },
            }
            for t in trials
        ]
        print(json.dumps(rows, indent=2))
        return 0
    keys = varying_keys(trials)
    print(summary(spec, trials))
    for t in trials:
        flat = t.flat()
        values = " ".join(f"{k}={flat[k]}" for k in keys if k in flat)
        print(t.trial_id, values, f"[{executors[t.trial_id].label}]")
    for members in packs.packs:
        ids = [m.trial_id for m in members]
        bound = members[0].compute.pack
        how = "if a timing says it pays" if bound == "auto" else f"at most {bound}"
        print(f"{pack_of[ids[0]]} ({len(ids)} trials, one pack {how}): {' '.join(ids)}")
    reasons: dict[str, list[str]] = {}
    for tid, why in packs.alone.items():
        reasons.setdefault(why, []).append(tid)
    for why, ids in reasons.items():
        print(f"unpacked ({why}): {' '.join(ids)}")
    steps: dict[tuple[str, str], list[str]] = {}
    for tid, ex in executors.items():
        steps.setdefault((ex.label, ex.why), []).append(tid)
    for (label, why), ids in steps.items():
        print(f"step {label} ({why}): {' '.join(ids)}")
    return 0


def _run(args: argparse.Namespace, spec: SweepSpec, trials: list[TrialConfig]) -> int:
    from aesweep.sweeps.backend_registry import BACKENDS, backend_name
    from aesweep.sweeps.connect import ClusterError
    from aesweep.sweeps.console import console_logging
    from aesweep.sweeps.plan import summary
    from aesweep.sweeps.searches import search_kind
    from aesweep.sweeps.submission import run_sweep
    from aesweep.tracking.locks import SubmissionBusy
    from aesweep.trainables.storage import StorageFault

    if args.max_concurrent is not None and args.max_concurrent < 1:
        print("--max-concurrent: must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    backend = BACKENDS.get(backend_name(args.inline))
    if not backend.joins_ray and args.address is not None:
        print("--inline runs without Ray: leave out --address (or --inline)", file=sys.stderr)
        return EXIT_BAD_INPUT
    needs_ray = spec.search.scheduler is not None or not search_kind(spec.search.algorithm).inline
    if not backend.joins_ray and needs_ray:
        what = "search.scheduler" if spec.search.scheduler is not None else "search.algorithm"
        print(f"{what}: needs Ray Tune; run without --inline", file=sys.stderr)
        return EXIT_BAD_INPUT
    from aesweep.sweeps.preflight import preflight

    problems = preflight(spec, address=args.address)
    if problems:
        for line in problems:
            print(f"{args.spec}: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(summary(spec, trials))
    spec_text = Path(args.spec).read_text()
    if args.overrides:
        spec_text += "\n# --set " + " --set ".join(args.overrides) + "\n"
    console_logging()
    try:
        outcome = run_sweep(
            spec,
            trials,
            spec_text,
            address=args.address,
            inline=args.inline,
            max_concurrent=args.max_concurrent,
            verbose=args.verbose,
            wait=args.wait,
        )
    except SubmissionBusy as exc:  # refused before this submission created anything
        print(f"{args.spec}: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except ClusterError as exc:  # raised before anything is created
        for line in exc.lines:
            print(f"{args.spec}: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(
            "interrupted: unfinished trials are marked KILLED; run again to resume", file=sys.stderr
        )
        return 130
    except StorageFault as exc:  # the storage, not the trials: they resume once it has room
        print(
            f"{args.spec}: tracking.storage: {exc.storage}: {exc.why}: the sweep stopped, "
            f"{len(exc.killed)} unfinished trials are marked KILLED; free space (or make it "
            "writable) and run the same command again to resume them",
            file=sys.stderr,
        )
        return EXIT_STORAGE
    counts = outcome.counts()
    if outcome.interrupted:
        print(
            f"interrupted: {counts['killed']} trials stopped (KILLED in MLflow); "
            "run the same command again to resume them",
            file=sys.stderr,
        )
        return 130
    parts = [f"{n} {k}" for k, n in sorted(counts.items())]
    if outcome.skipped:
        parts.append(f"{len(outcome.skipped)} already finished")
    print("done: " + (", ".join(parts) or "nothing to run"))
    print(f"results: aesweep results {args.spec}    UI: aesweep ui {args.spec}")
    return 0 if outcome.ok else 1


def _results(args: argparse.Namespace, spec: SweepSpec, trials: list[TrialConfig]) -> int:
    from aesweep.sweeps.results import format_rows, group_row, result_groups
    from aesweep.sweeps.searches import search_kind
    from aesweep.tracking.store import NoRunsYet, SweepStore

    try:  # read-only: a store that does not exist is not created
        store = SweepStore.open_existing(spec.tracking.uri, spec.experiment)
    except NoRunsYet as exc:
        print(exc, file=sys.stderr)
        return 1
    if not search_kind(spec.search.algorithm).planned:  # its trials: those in MLflow
        from aesweep.sweeps.recorded import recorded_trials

        trials = [t for t, _ in recorded_trials(spec, store)]
    if args.stopping:
        from aesweep.sweeps.stopping import format_stopping, stopping_rows

        audit = stopping_rows(spec, trials, store)
        if args.format == "json":
            print(json.dumps([r.as_dict() for r in audit], indent=2))
        else:
            print(format_stopping(audit))
        return 0
    groups = result_groups(spec, trials, store, include_stopped=args.include_stopped)
    if args.importance:
        return _importance(args, spec, groups, store)
    rows = [group_row(g) for g in groups]
    if args.paper:
        from aesweep.sweeps.published import format_with_published

        print(format_with_published(groups, rows, args.format))
    else:
        print(format_rows(rows, args.format))
    if args.plots:
        from aesweep.sweeps.plots import log_sweep_plots

        parent = store.latest_parent_run(spec.name)
        if parent is None:
            print(f"no parent run of {spec.name!r} to draw the plots into", file=sys.stderr)
            return 1
        names = log_sweep_plots(spec, trials, store, parent)
        drawn = ", ".join(names) or "none (no finished trial)"
        print(f"plots: {drawn} in run {parent}", file=sys.stderr)
    return 0


def _importance(
    args: argparse.Namespace, spec: SweepSpec, groups: list[ResultGroup], store: SweepStore
) -> int:
    from aesweep.config.registry import UnknownComponentError
    from aesweep.sweeps.importance import (
        EVALUATORS,
        format_importance,
        log_importance,
        sweep_importance,
    )

    try:
        evaluator = EVALUATORS.get(args.evaluator)
    except UnknownComponentError as exc:
        print(f"--evaluator: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    metric, mode = spec.selection.metric, spec.selection.mode
    results = sweep_importance(groups, metric, mode, evaluator)
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(format_importance(results, metric, mode, evaluator.name))
    parent = store.latest_parent_run(spec.name)
    if parent is None:
        print(f"no parent run of {spec.name!r} to log the importance into", file=sys.stderr)
        return 0
    title = f"importance of each axis for {metric} ({mode}), {evaluator.name}"
    logged = log_importance(store, parent, results, title)
    print(f"importance: {', '.join(logged) or 'nothing'} in run {parent}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace, spec: SweepSpec, trials: list[TrialConfig]) -> int:
    from aesweep.sweeps.prepare import trial_name
    from aesweep.sweeps.searches import search_kind
    from aesweep.sweeps.status import pending_states, progress_line, trial_states
    from aesweep.tracking.store import NoRunsYet, SweepStore

    try:  # read-only: without a store, every trial is pending and nothing is created
        store = SweepStore.open_existing(spec.tracking.uri, spec.experiment)
        if not search_kind(spec.search.algorithm).planned:  # its trials: those in MLflow
            from aesweep.sweeps.recorded import recorded_trials

            trials = [t for t, _ in recorded_trials(spec, store)]
        rows = trial_states(trials, store)
    except NoRunsYet as exc:
        print(exc, file=sys.stderr)
        rows = pending_states(trials)
    names = {t.trial_id: trial_name(t) for t in trials}
    width = max((len(n) for n in names.values()), default=0)
    for row in rows:
        name = names[row["trial_id"]].ljust(width)
        print(f"{name}  {row['state']:<9}  epoch {row['epoch']}/{row['epochs']}")
    print(progress_line(rows))
    return 0


def _ui(args: argparse.Namespace, spec: SweepSpec, trials: list[TrialConfig]) -> int:
    from aesweep.tracking.server import runs_page_url, serve, ui_command, ui_env
    from aesweep.tracking.store import NoRunsYet, SweepStore

    try:  # a store that does not exist is not created, not even by the UI server
        store = SweepStore.open_existing(spec.tracking.uri, spec.experiment)
    except NoRunsYet as exc:
        print(exc, file=sys.stderr)
        return 1
    assert store.experiment_id is not None
    store.tag_experiment_kind()  # an experiment made by an older aesweep
    if store.uri.startswith(("http://", "https://")):  # a server: its UI is already up
        print(f"runs of {spec.experiment}: {runs_page_url(store.uri, store.experiment_id)}")
        return 0
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = runs_page_url(f"http://{host}:{args.port}", store.experiment_id)
    print(f"MLflow UI for {store.uri}", flush=True)
    print(f"runs of {spec.experiment}: {url}  (Ctrl-C to stop)", flush=True)
    return serve(ui_command(store.uri, args.host, args.port, args.workers), ui_env())


def _schema() -> int:
    from aesweep.sweeps.spec import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2, ensure_ascii=False))
    return 0


def _fid(args: argparse.Namespace) -> int:
    from aesweep.fid.features import get_extractor
    from aesweep.fid.score import fid_from_stats
    from aesweep.fid.sources import Request, SourceError, parse_source
    from aesweep.fid.weights import InceptionWeightsError

    if args.b is None and not args.save_stats:
        print("fid: give two sources, or one with --save-stats OUT.npz", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.samples < 2 or args.batch_size < 1:
        print("fid: --samples must be at least 2 and --batch-size at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    request = Request(
        samples=args.samples,
        batch_size=args.batch_size,
        cache_dir=Path(args.cache_dir).expanduser(),
        extractor=lambda: get_extractor(args.weights, args.device, cache_dir=args.cache_dir),
        progress=True if args.progress else None,
    )
    try:
        sources = [parse_source(s, data_root=args.data_root) for s in (args.a, args.b) if s]
        stats = [source.stats(request) for source in sources]
        value = fid_from_stats(*stats) if len(stats) == 2 else None
    except (SourceError, InceptionWeightsError, FileNotFoundError, ValueError) as exc:
        print(f"fid: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.save_stats:
        stats[0].save_npz(args.save_stats)
        print(f"saved {sources[0].label} statistics (n={stats[0].n}) to {args.save_stats}")
    if value is not None:
        labels = ", ".join(f"{src.label} n={st.n}" for src, st in zip(sources, stats, strict=True))
        print(f"FID {value:.6f}  ({labels})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
