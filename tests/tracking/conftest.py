"""A throwaway PostgreSQL cluster and an MLflow server on it, as ``docker/compose.yaml`` runs
MLflow: the server's ``--backend-store-uri`` is the compose file's, pointed at this cluster.

PostgreSQL refuses to run as root. As root, the cluster's programs run as the ``postgres``
account (Debian's package creates it) or else ``nobody``, through ``subprocess``'s ``user=``
(a plain setuid, no ``su``/PAM): the cluster lives in a folder of its own under the system's
temporary directory, owned by that account, since pytest's ``tmp_path`` is private to root.
Its server listens on 127.0.0.1 and a socket in that folder, trusts local connections (no
password) and writes without fsync; ``pg_ctl stop -m fast`` ends it."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, free_port, serve_mlflow

COMPOSE = REPO / "docker" / "compose.yaml"
PG_ACCOUNTS = ("postgres", "nobody")  # who runs the cluster when the tests run as root
SUPERUSER = "mlflow"  # the compose file's POSTGRES_USER
INSTALL_HINT = "`make postgres` installs Debian's postgresql, as root with apt-get"


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's newest
    ``/usr/lib/postgresql/<version>/bin``, else wherever ``PATH`` has them."""
    debian = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    debian = [p for p in debian if (p / "initdb").exists() and (p / "pg_ctl").exists()]
    if debian:
        return max(debian, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)])
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("initdb") else None


def compose_backend_uri(host: str, port: int) -> str:
    """The MLflow server's ``--backend-store-uri`` of the compose file (password at its
    default), with the database server at ``host:port`` in place of the ``postgres`` service."""
    command = yaml.safe_load(COMPOSE.read_text())["services"]["mlflow"]["command"]
    match = re.search(r"--backend-store-uri\s+(\S+)", command)
    assert match, f"no --backend-store-uri in the compose file's mlflow command: {command}"
    uri = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", match.group(1))
    parts = urllib.parse.urlsplit(uri)
    netloc = f"{parts.netloc.rpartition('@')[0]}@{host}:{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@dataclass
class PostgresCluster:
    """A running cluster: where its programs are, its port, who runs it."""

    bin: Path
    folder: Path
    port: int
    user: str | None  # the account it runs as (None: this process's own)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One of the cluster's programs, as its account, failing with its output."""
        kw: dict = {}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            kw = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        done = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.folder, env=env, capture_output=True, text=True, timeout=120, **kw,
        )  # fmt: skip
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done


def _account() -> str | None:
    """Who runs the cluster: this process unless it is root, else the first of PG_ACCOUNTS
    that exists; skips when none does."""
    if os.geteuid() != 0:
        return None
    for name in PG_ACCOUNTS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.skip(f"PostgreSQL refuses root and none of the accounts {PG_ACCOUNTS} exists")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for this module: initdb (superuser SUPERUSER, trust auth), started
    on a free port of 127.0.0.1, stopped (``pg_ctl stop -m fast``) and removed afterwards."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip(f"PostgreSQL is not installed (no initdb/pg_ctl): {INSTALL_HINT}")
    user = _account()
    folder = Path(tempfile.mkdtemp(prefix="aesweep-pg-"))  # short: the socket path's limit
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    cluster = PostgresCluster(bin_dir, folder, free_port(), user)
    data = str(folder / "data")
    started = False
    try:
        cluster.run("initdb", "-D", data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                    "--locale=C", "--no-sync")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {folder} -c fsync=off"
        log = folder / "server.log"
        try:
            cluster.run("pg_ctl", "-D", data, "-l", str(log), "-o", options, "-w", "-t", "60",
                        "start")  # fmt: skip
        except AssertionError as exc:
            server = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"{exc}\n{server}") from None
        started = True
        yield cluster
    finally:
        if started:
            cluster.run("pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_mlflow(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real ``mlflow server`` whose backend store is a new database of ``postgres``, named
    by the compose file's URI: its ``http://`` URL."""
    uri = compose_backend_uri("127.0.0.1", postgres.port)
    parts = urllib.parse.urlsplit(uri)
    postgres.run("createdb", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", SUPERUSER,
                 "-O", parts.username or SUPERUSER, parts.path.lstrip("/"))  # fmt: skip
    with serve_mlflow(uri, tmp_path_factory.mktemp("pg-mlflow")) as url:
        yield url
