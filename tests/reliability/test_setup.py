"""The set-up of the README's two commands: `make demo` installs the package only (no test
extras, never a system package); `make test` adds the test extras and, through `make browser`
and `make postgres`, the UI test's chromium and the PostgreSQL test's server, quietly, only
when missing and only as root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no 'make' here")


def _fresh_copy(tmp_path: Path) -> Path:
    """The Makefile and pyproject.toml in an empty folder: no .venv, every stamp missing."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def _outside_make() -> dict[str, str]:
    """The environment without the variables of the make running the tests (CI runs them
    under `make test`): a nested make would print "Entering directory" lines of its own."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


def _dry_run(folder: Path, *targets: str, **variables: str) -> list[str]:
    extra = [f"{k}={v}" for k, v in variables.items()]
    env = _outside_make()
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *targets, *extra],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_make_demo_installs_the_package_only_and_no_system_package(tmp_path: Path) -> None:
    lines = _dry_run(_fresh_copy(tmp_path), "demo")
    commands = [ln for ln in lines if not ln.lstrip().startswith("#")]
    text = "\n".join(commands)
    assert "apt-get" not in text and "dpkg" not in text and "chromium" not in text
    assert "[test]" not in text and "fid-helper" not in text
    installs = [ln for ln in commands if "pip install" in ln]
    assert any(ln.rstrip().endswith("pip install -q -e .") for ln in installs), installs
    assert all(" -q " in ln for ln in installs), installs  # quiet installs
    assert any("aesweep run specs/quickstart.yaml" in ln for ln in commands)


def test_make_test_installs_system_packages_only_through_make_browser_and_postgres(
    tmp_path: Path,
) -> None:
    folder = _fresh_copy(tmp_path)
    text = "\n".join(_dry_run(folder, "test"))
    assert "pip install -q -e '.[test]'" in text
    for target, log in (("browser", "apt.log"), ("postgres", "apt-postgresql.log")):
        recipe = "\n".join(_dry_run(folder, target))
        assert recipe and recipe in text  # `make test` runs exactly this target's recipe
        assert "id -u" in recipe and "-qq" in recipe and f"{log} 2>&1" in recipe
    apt = [ln for ln in text.splitlines() if "apt-get install" in ln]
    assert len(apt) == 2, apt  # no other system package


# target, the variable naming what it installs when missing, the package, its first line
SYSTEM_PACKAGES = [
    ("browser", "CHROMIUM", "chromium", "for the MLflow UI test (apt-get, log in .venv/apt.log)"),
    (
        "postgres",
        "INITDB",
        "postgresql",
        "for the PostgreSQL test (apt-get, log in .venv/apt-postgresql.log)",
    ),
]


@pytest.mark.parametrize(("target", "variable", "package", "says"), SYSTEM_PACKAGES)
def test_make_installs_a_system_package_quietly_and_only_when_missing(
    tmp_path: Path, target: str, variable: str, package: str, says: str
) -> None:
    """Run `make browser` and `make postgres` for real against a stand-in apt-get that prints
    apt's usual progress: none of it reaches the terminal, and with the program present
    nothing runs."""
    folder = _fresh_copy(tmp_path)
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "apt-calls"
    (fake / "apt-get").write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n'
        f'echo "Get:1 http://deb.debian.org/debian trixie/main amd64 {package} [70 MB]"\n'
        'echo "Setting up systemd (257.9-1) ..." >&2\n'
    )
    (fake / "apt-get").chmod(0o755)
    env = {**_outside_make(), "PATH": f"{fake}:{os.environ['PATH']}"}

    def make(program: Path) -> str:
        done = subprocess.run(
            ["make", "-s", "--no-print-directory", target, f"{variable}={program}"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    present = tmp_path / "program"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    assert make(present).strip() == ""  # present: nothing to do, nothing said
    assert not calls.exists()

    out = make(tmp_path / "missing")
    assert "Get:1" not in out and "Setting up" not in out, out
    if os.geteuid() == 0:
        assert calls.read_text().splitlines() == [
            "update -qq",
            f"install -y -qq --no-install-recommends {package}",
        ]
        assert out.strip().splitlines() == [f"installing {package} {says}"]
    else:
        assert not calls.exists()
        assert "needs root" in out


def test_the_ui_test_names_the_browser_when_it_skips() -> None:
    source = (REPO / "tests" / "evaluation" / "test_evaluation_ui.py").read_text()
    assert "no browser at {CHROMIUM}" in source and "make browser" in source


def test_the_postgres_test_names_the_make_target_when_it_skips() -> None:
    source = (REPO / "tests" / "tracking" / "conftest.py").read_text()
    assert "PostgreSQL is not installed" in source and "`make postgres`" in source
