"""The compact progress view of ``aesweep run``: its rendering as a pure function of a small
state (no Ray), its plain and live output, one real Ray Tune sweep through it, and the view in
a real terminal (tmux) without Tune's tables or TensorBoard hint."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from aesweep.sweeps.progress import (
    ProgressView,
    SweepProgress,
    TrialProgress,
    eta,
    format_duration,
    overall_line,
    render,
    trial_line,
)
from tests.conftest import REPO, tiny_spec

TUNE_NOISE = ("Trial status", "TensorBoard", "Configuration for experiment", "│", "╭", "+----")


def _sweep() -> SweepProgress:
    return SweepProgress(
        {
            "a": TrialProgress("cwae-lr0.01", 10, epoch=3, cost=0.12345, state="running"),
            "b": TrialProgress("swae-lr0.1", 10, epoch=10, cost=0.5, state="finished"),
            "c": TrialProgress("wae-lr1e30", 10, epoch=2, cost=float("nan"), state="diverged"),
            "d": TrialProgress("wae-lr0.01", 10),
        },
        skipped=1,
    )


def test_trial_line_has_epoch_of_total_last_cost_and_state() -> None:
    line = trial_line(TrialProgress("cwae-lr0.01", 10, epoch=3, cost=0.12345, state="running"))
    assert line.split() == ["cwae-lr0.01", "epoch", "3/10", "cost", "0.1235", "running"]
    assert trial_line(TrialProgress("x", 5)).split() == [
        "x",
        "epoch",
        "0/5",
        "cost",
        "-",
        "pending",
    ]
    assert trial_line(TrialProgress("x", 5), width=4).startswith("x     epoch")


def test_overall_line_counts_bar_and_eta() -> None:
    progress = _sweep()
    # 3 + 10 + 10 (a diverged trial's epochs are all done) of 40 epochs in 46 s: 34 s to go.
    assert progress.work() == (23, 40)
    assert eta(progress, 46.0) == pytest.approx(46.0 * 17 / 23)
    line = overall_line(progress, 46.0)
    assert line == (
        "[###########---------] 2/4 trials (+1 already finished)  "
        "1 finished, 1 diverged, 0 failed, 1 running  elapsed 46s  ETA 34s"
    )
    assert format_duration(3725) == "1h02m"
    assert format_duration(62) == "1m02s"


def test_eta_is_unknown_before_the_first_epoch_and_done_at_the_end() -> None:
    progress = SweepProgress({"a": TrialProgress("a", 2, state="running")})
    assert eta(progress, 10.0) is None
    assert overall_line(progress, 10.0).endswith("ETA -")
    progress.trials["a"].state = "failed"
    assert overall_line(progress, 10.0).endswith("done")
    assert "0 finished, 0 diverged, 1 failed" in overall_line(progress, 10.0)


def test_render_is_one_line_per_running_trial_then_the_bar() -> None:
    lines = render(_sweep(), 46.0)
    assert len(lines) == 2
    assert lines[0].startswith("cwae-lr0.01  epoch 3/10")
    assert lines[1].startswith("[")


def _view(live: bool) -> tuple[ProgressView, io.StringIO]:
    out = io.StringIO()
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    trials = {tid: TrialProgress(f"trial-{tid}", 2) for tid in ("a", "b")}
    return ProgressView(SweepProgress(trials), out, live=live, clock=clock), out


def _feed(view: ProgressView) -> None:
    view.start("a")
    view.start("b")
    view.result("a", {"epoch": 1, "cost": 0.5, "diverged": 0.0})
    view.result("b", {"epoch": 1, "cost": float("inf"), "diverged": 1.0})
    view.end("b", "finished")  # a diverged trial returns normally: it stays diverged
    view.result("a", {"epoch": 2, "cost": 0.25, "diverged": 0.0})
    view.result("a", {"epoch": 2, "cost": 0.25, "diverged": 0.0})  # Tune's final repeat
    view.end("a", "finished")
    view.close()


def test_a_ranking_inf_before_the_first_evaluation_shows_no_cost() -> None:
    """Under a scheduler every report carries the metric, +inf before an evaluation: the line
    shows the last evaluated cost, never inf."""
    view, out = _view(live=False)
    view.start("a")
    view.result("a", {"epoch": 1, "cost": float("inf"), "diverged": 0.0})
    view.result("a", {"epoch": 2, "cost": 0.5, "diverged": 0.0})
    view.result("a", {"epoch": 3, "cost": float("inf"), "diverged": 1.0})
    first, second, third = [ln for ln in out.getvalue().splitlines() if "epoch 0" not in ln]
    assert "cost -" in first and "inf" not in first
    assert "cost 0.5" in second
    assert "cost 0.5" in third and third.endswith("diverged")


def test_plain_output_is_one_line_per_event_without_repeats() -> None:
    view, out = _view(live=False)
    _feed(view)
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    assert [line.split()[0] for line in lines] == [
        "trial-a",
        "trial-b",
        "trial-a",
        "trial-b",  # epoch 1, diverged
        "[###############-----]",  # b ended: its 2 epochs and 1 of a's done, of 4
        "trial-a",  # epoch 2 (once)
        "trial-a",  # finished
        "[####################]",
    ]
    assert lines[3].endswith("diverged")
    assert lines[-2].split()[-1] == "finished"
    assert "1 finished, 1 diverged, 0 failed, 0 running" in lines[-1]
    assert lines[-1].endswith("done")


def test_live_output_redraws_in_place_and_keeps_ended_trials() -> None:
    view, out = _view(live=True)
    _feed(view)
    text = out.getvalue()
    assert "\x1b[" in text  # cursor up, erase below
    # What a terminal shows at the end: the ended trials, then the final bar, once.
    screen = _replay(text)
    assert [line.split()[0] for line in screen] == ["trial-b", "trial-a", "[####################]"]
    assert screen[0].endswith("diverged") and screen[1].endswith("finished")


def _replay(text: str) -> list[str]:
    """The lines left by ``ESC[NF ESC[J`` (N lines up, erase below) and newlines."""
    lines: list[str] = []
    parts = re.split(r"\x1b\[(\d+)F\x1b\[J", text)
    lines += parts[0].splitlines()
    for count, chunk in zip(parts[1::2], parts[2::2], strict=True):
        del lines[len(lines) - int(count) :]
        lines += chunk.splitlines()
    return lines


def test_a_ray_tune_sweep_prints_the_compact_lines(
    ray_session: None, mlflow_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aesweep.sweeps.console import console_logging
    from aesweep.sweeps.load import load_plan
    from aesweep.sweeps.prepare import trial_name
    from aesweep.sweeps.submission import run_sweep

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(mlflow_uri, tmp_path / "ray")))
    spec, trials = load_plan(path)
    console_logging()  # as the CLI shows the driver's lines
    outcome = run_sweep(spec, trials, path.read_text())
    assert outcome.ok
    out = capsys.readouterr().out
    for t in trials:
        ended = [line for line in out.splitlines() if line.startswith(trial_name(t))]
        assert ended and ended[-1].split()[1:3] == ["epoch", "1/1"], out
        assert ended[-1].split()[-1] == "finished", out
    bars = [line for line in out.splitlines() if line.startswith("[")]
    assert bars[-1].startswith("[####################] 2/2 trials  2 finished"), out
    assert not any(noise in out for noise in TUNE_NOISE), out


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="no tmux")
def test_in_a_terminal_the_view_is_compact_and_redrawn_in_place(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tiny_spec(uri, tmp_path / "ray", epochs=3)
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    socket_name = f"aesweep-{uuid.uuid4().hex[:8]}"  # a tmux server of this test only
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = f"{sys.executable} -m aesweep.sweeps.cli run spec.yaml; echo EXIT=$?; sleep 600"
    tmux = ["tmux", "-L", socket_name]
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "120", "-y", "30", "-c", str(tmp_path), cmd],
        env=env,
        check=True,
    )
    try:
        deadline = time.monotonic() + 400
        screen = ""
        while "EXIT=" not in screen:
            assert time.monotonic() < deadline, f"no end of the sweep:\n{screen}"
            time.sleep(2)
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-S", "-200"], capture_output=True, text=True
            ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert "EXIT=0" in screen, screen
    ended = [line for line in lines if line.startswith("cwae-")]
    assert len(ended) == 2, screen  # a line left per ended trial; running lines redrawn away
    assert all(line.split()[1:3] == ["epoch", "3/3"] for line in ended), screen
    assert all(line.split()[-1] == "finished" for line in ended), screen
    bars = [line for line in lines if line.startswith("[")]
    assert len(bars) == 1, screen  # the bar redrawn in place, not printed again and again
    assert bars[0].startswith("[####################] 2/2 trials  2 finished"), screen
    assert not any(noise in screen for noise in TUNE_NOISE), screen
