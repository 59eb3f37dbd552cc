"""A sweep's live progress on the terminal: one line per running trial (epoch/total, last
cost, state) and an overall bar (finished, diverged, failed, ETA).

The rendering is a pure function of :class:`SweepProgress` (no Ray): Ray Tune's callback in
``backends/tune.py`` and the inline runner only feed it events. On a terminal the block is
redrawn in place; elsewhere (a log file, a pipe) it writes plain lines, one per event.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

ENDED = ("finished", "diverged", "failed")
BAR_WIDTH = 20


@dataclass
class TrialProgress:
    name: str
    total: int  # epochs
    epoch: int = 0
    cost: float | None = None
    state: str = "pending"  # pending, running, finished, diverged, failed


@dataclass
class SweepProgress:
    """What the view shows: the trials of this submission, and the ones skipped (finished in
    an earlier one)."""

    trials: dict[str, TrialProgress] = field(default_factory=dict)
    skipped: int = 0

    def counts(self) -> Counter[str]:
        return Counter(t.state for t in self.trials.values())

    def work(self) -> tuple[int, int]:
        """(epochs done, epochs in all): an ended trial's epochs are all done."""
        done = sum(t.total if t.state in ENDED else t.epoch for t in self.trials.values())
        return done, sum(t.total for t in self.trials.values())


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def eta(progress: SweepProgress, elapsed: float) -> float | None:
    """Seconds left at the rate so far (epochs per second), None before the first epoch."""
    done, total = progress.work()
    if done <= 0 or elapsed <= 0:
        return None
    return elapsed * (total - done) / done


def trial_line(trial: TrialProgress, width: int = 0) -> str:
    """``name  epoch 3/10  cost 0.1234  running`` (the name padded to ``width``)."""
    cost = "cost -" if trial.cost is None else f"cost {trial.cost:.4g}"
    epochs = f"epoch {trial.epoch}/{trial.total}"
    return f"{trial.name.ljust(width)}  {epochs:<13}  {cost:<13}  {trial.state}"


def overall_line(progress: SweepProgress, elapsed: float) -> str:
    """``[######--------------] 3/8 trials  2 finished, 1 diverged, 0 failed, 2 running
    elapsed 1m02s  ETA 2m10s``."""
    counts = progress.counts()
    n = len(progress.trials)
    ended = sum(counts[s] for s in ENDED)
    done, total = progress.work()
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    parts = [f"{counts[s]} {s}" for s in ENDED] + [f"{counts['running']} running"]
    left = eta(progress, elapsed)
    when = "ETA -" if left is None or not math.isfinite(left) else f"ETA {format_duration(left)}"
    if ended == n:
        when = "done"
    skipped = f" (+{progress.skipped} already finished)" if progress.skipped else ""
    return (
        f"[{bar}] {ended}/{n} trials{skipped}  {', '.join(parts)}  "
        f"elapsed {format_duration(elapsed)}  {when}"
    )


def render(progress: SweepProgress, elapsed: float) -> list[str]:
    """The live block: a line per running trial, then the overall bar."""
    running = [t for t in progress.trials.values() if t.state == "running"]
    width = max((len(t.name) for t in running), default=0)
    return [trial_line(t, width) for t in running] + [overall_line(progress, elapsed)]


class ProgressView:
    """Feeds :class:`SweepProgress` from trial events and draws it on ``out``.

    On a terminal the live block is redrawn in place (at most every ``interval`` seconds
    unless something ended) and a trial that ends leaves one line above it; otherwise each
    event writes plain lines: a result, the trial's line; an end, the trial's line and the
    overall one."""

    def __init__(
        self,
        progress: SweepProgress,
        out: IO[str] | None = None,
        *,
        live: bool | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.progress = progress
        self._out = out  # None: sys.stdout when writing (Tune pickles its callbacks)
        self.live = self.out.isatty() if live is None else live
        self.interval = interval
        self._clock = clock
        self._start = self._clock()
        self._drawn = 0  # lines of the live block on screen
        self._last_draw = -math.inf
        self._printed: dict[str, str] = {}  # plain lines: the last of each trial, and overall

    @property
    def out(self) -> IO[str]:
        return sys.stdout if self._out is None else self._out

    def elapsed(self) -> float:
        return self._clock() - self._start

    def start(self, trial_id: str) -> None:
        trial = self.progress.trials[trial_id]
        trial.state = "running"
        self._plain(trial_id, trial_line(trial))
        self.tick(force=True)

    def result(self, trial_id: str, metrics: dict[str, object]) -> None:
        trial = self.progress.trials[trial_id]
        trial.state = "running"
        epoch, cost = metrics.get("epoch"), metrics.get("cost")
        if isinstance(epoch, int | float) and math.isfinite(epoch):
            trial.epoch = int(epoch)
        # A scheduler's reports carry +-inf before the first evaluation and for a diverged
        # trial (its ranking value): the line keeps the last evaluated cost.
        if isinstance(cost, int | float) and math.isfinite(cost):
            trial.cost = float(cost)
        if metrics.get("diverged") in (1, 1.0, True):
            trial.state = "diverged"
        self._plain(trial_id, trial_line(trial))
        self.tick()

    def end(self, trial_id: str, state: str) -> None:
        """The trial ended: ``finished`` (unless a result said it diverged), or ``failed``."""
        trial = self.progress.trials[trial_id]
        if not (state == "finished" and trial.state == "diverged"):
            trial.state = state
        if self.live:
            self._clear()
            self._write([trial_line(trial)])
            self._draw()
        else:
            self._plain(trial_id, trial_line(trial))
            self._plain("", overall_line(self.progress, self.elapsed()))

    def tick(self, force: bool = False) -> None:
        """Redraw the live block if ``interval`` has passed (the elapsed time and ETA move)."""
        if self.live and (force or self._clock() - self._last_draw >= self.interval):
            self._clear()
            self._draw()

    def close(self) -> None:
        """Leave the final overall line on screen."""
        if self.live:
            self._clear()
            self._write([overall_line(self.progress, self.elapsed())])
        else:
            self._plain("", overall_line(self.progress, self.elapsed()))

    def _plain(self, key: str, line: str) -> None:
        """Off a terminal: ``line``, unless it repeats the last one of ``key`` but for the
        elapsed time (Tune hands a trial's last result over again when it returns)."""
        same = line.split("  elapsed ")[0]
        if not self.live and self._printed.get(key) != same:
            self._printed[key] = same
            self._write([line])

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((120, 30)).columns
        lines = [line[: columns - 1] for line in render(self.progress, self.elapsed())]
        self._write(lines)
        self._drawn = len(lines)
        self._last_draw = self._clock()

    def _clear(self) -> None:
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")  # up to the block's start, erase below
            self._drawn = 0

    def _write(self, lines: list[str]) -> None:
        self.out.write("".join(line + "\n" for line in lines))
        self.out.flush()
