"""The search and the backend of a sweep come from registries, like every other spec name:
an unknown search is refused in one line listing the registered ones, every entry names a
driver-side implementation that exists, and what a search declares (not its name) decides
what the CLI refuses. The driver's lines reach the console through ``logging``."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pytest

from aesweep.config.registry import Entry
from aesweep.sweeps.backend_registry import BACKENDS
from aesweep.sweeps.cli import main
from aesweep.sweeps.console import ConsoleHandler, console_logging
from aesweep.sweeps.searches import SEARCHES, SearchKind
from aesweep.sweeps.trials import SweepTrials

GOOD = {
    "name": "ok",
    "models": [{"family": "cwae", "latent_dim": 8}],
    "optimizer": {"lr": [0.01]},
}


def test_an_unknown_search_is_refused_naming_the_registered_ones(
    write_spec, capsys, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_spec({**GOOD, "search": {"algorithm": "hyperband", "num_samples": 2}})
    assert main(["run", str(path)]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1 and "search.algorithm" in lines[0], err
    assert f"allowed: {', '.join(SEARCHES.names())}" in lines[0], err
    assert out == "" and not (tmp_path / "mlflow.db").exists()


def test_every_search_and_backend_names_an_implementation_with_the_driver_interface() -> None:
    wanted = {"tune_job", "records", "outcome"}
    for name in SEARCHES:
        driver = SEARCHES.load(name, "driver")
        assert wanted <= set(dir(driver)), name
        assert list(inspect.signature(driver).parameters) == ["spec", "trials", "spec_text"]
    assert wanted <= {n for n in dir(SweepTrials) if not n.startswith("_")}
    for name in BACKENDS:
        backend = BACKENDS.load(name)
        assert {"connect", "use_gpu", "run"} <= set(dir(backend)), name


def test_what_a_search_declares_decides_the_inline_refusal(
    write_spec, capsys, tmp_path: Path, monkeypatch
) -> None:
    """A search registered as needing Ray is refused with --inline by its declaration: a
    grid registered that way is refused too (no name is compared)."""
    monkeypatch.chdir(tmp_path)
    grid = SEARCHES.entry("grid")
    tune_only = SearchKind("a grid that needs Ray Tune", draws=False, planned=True, inline=False)
    monkeypatch.setitem(SEARCHES._entries, "grid", Entry("grid", tune_only, grid.targets))
    path = write_spec(GOOD)
    assert main(["run", "--inline", str(path)]) == 2
    err = capsys.readouterr().err
    assert "search.algorithm: needs Ray Tune; run without --inline" in err, err
    assert not (tmp_path / "mlflow.db").exists()


def test_the_driver_lines_reach_stdout_and_its_warnings_stderr(capsys) -> None:
    console_logging()
    console_logging()  # once per process: no second handler, no line twice
    logger = logging.getLogger("aesweep.sweeps.submission")
    handlers = logging.getLogger("aesweep.sweeps").handlers
    assert sum(isinstance(h, ConsoleHandler) for h in handlers) == 1
    logger.info("%d of %d trials already finished", 1, 2)
    logger.warning("warning: the sweep's plots were not drawn")
    logging.getLogger("aesweep.models.ae").info("not a driver line")
    out, err = capsys.readouterr()
    assert out == "1 of 2 trials already finished\n"
    assert err == "warning: the sweep's plots were not drawn\n"


@pytest.fixture(autouse=True)
def _no_console_handler_left():
    yield
    logger = logging.getLogger("aesweep.sweeps")
    for handler in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(handler)
