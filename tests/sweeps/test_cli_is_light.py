"""validate, plan and --help import neither torch nor ray nor mlflow (they answer at once);
the sweep driver (sweeps.run) imports mlflow but neither torch nor ray."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import sys
from aesweep.sweeps.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "ray", "mlflow", "sklearn") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
sys.exit(code)
"""


def _heavy_modules(*argv: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("HEAVY=")][-1]
    return done.returncode, line.removeprefix("HEAVY=")


def test_validate_plan_and_help_stay_light() -> None:
    spec = str(REPO / "specs" / "quickstart.yaml")
    for argv in (["validate", spec], ["plan", spec], ["plan", spec, "--json"], ["--help"]):
        code, heavy = _heavy_modules(*argv)
        assert code == 0, argv
        assert heavy == "", f"{argv} imported {heavy}"


def test_the_sweep_driver_imports_neither_torch_nor_ray() -> None:
    """The driver's modules (the submission, the searches' and backends' sides; ``status``
    imports ``prepare`` too) stay torch- and ray-free at import: trials import torch, Ray is
    imported when a sweep is launched on it. mlflow is allowed (through ``tracking``)."""
    probe = (
        "import sys, aesweep.sweeps.submission, aesweep.sweeps.planned, "
        "aesweep.sweeps.sampled, aesweep.sweeps.backends.tune, aesweep.sweeps.backends.inline; "
        "print('HEAVY=' + ','.join(sorted(m for m in ('torch', 'ray', 'mlflow') "
        "if m in sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("HEAVY=")][-1]
    heavy = set(line.removeprefix("HEAVY=").split(","))
    assert not heavy & {"torch", "ray"}, f"importing the sweep driver imported {heavy}"


def test_status_reads_mlflow_without_torch_or_ray(tmp_path) -> None:
    """``status`` reads the tracking store (MLflow) and nothing heavier."""
    spec = tmp_path / "spec.yaml"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    text = (REPO / "specs" / "quickstart.yaml").read_text()
    spec.write_text(text.replace('"sqlite:///mlflow.db"', f'"{uri}"'))
    code, heavy = _heavy_modules("status", str(spec))
    assert code == 0
    assert not set(heavy.split(",")) & {"torch", "ray", "sklearn"}, f"status imported {heavy}"
