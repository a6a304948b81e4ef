"""A throwaway PostgreSQL cluster for tests: Debian's server binaries, a temp directory, a free loopback port.

PostgreSQL refuses to run as root, so as root the cluster is created and run as the `postgres` user
(runuser); as anyone else it runs as that user. Trust authentication, loopback only: nothing outside this
machine can reach it, and it is deleted when the tests end.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.service_process import free_port

SERVICE_ROLE = "facet_cds"  # the service connects as an ordinary role that owns its database, not as superuser
SUPERUSER = "postgres_admin"
# Durability is irrelevant for a cluster deleted after the run; these make CREATE DATABASE and commits fast.
FAST_UNSAFE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def server_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def why_no_cluster() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if server_binaries() is None:
        return "PostgreSQL server binaries not installed (Debian: apt-get install postgresql; `make test` does)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a `postgres` user to run PostgreSQL as"
    return None


@dataclass
class PostgresCluster:
    bin_dir: Path
    directory: Path
    port: int
    as_user: list[str]  # the command prefix that runs a program as the cluster's owner

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def url(self, database: str, user: str = SERVICE_ROLE) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url("postgres", SUPERUSER), autocommit=True)

    def create_database(self, name: str) -> str:
        """A new empty database owned by the service role; its URL."""
        with self.admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}" OWNER {SERVICE_ROLE}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def stop_server(self) -> None:
        """The server down (as for maintenance), its data kept; every client connection is terminated."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.directory} {FAST_UNSAFE}"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.directory / "server.log"), "-o", options,
                  "-w", "-t", "60", "start")

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        done = subprocess.run([*self.as_user, str(self.bin_dir / program), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stdout[-2000:]}")


def start_cluster() -> PostgresCluster:
    """Call when why_no_cluster() is None."""
    bin_dir = server_binaries()
    assert bin_dir is not None, "no PostgreSQL server binaries: check why_no_cluster() first"
    # Not pytest's tmp_path: it sits under a root-only (0700) directory the postgres user cannot enter.
    directory = Path(tempfile.mkdtemp(prefix="facet-cds-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    cluster = PostgresCluster(bin_dir, directory, free_port(), as_user)
    try:
        cluster._run("initdb", "-D", str(cluster.data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                     "--locale=C", "--no-sync", "--no-instructions")
        cluster.start_server()
        with cluster.admin() as connection:
            connection.execute(f"CREATE ROLE {SERVICE_ROLE} LOGIN")
    except BaseException as exc:
        log = directory / "server.log"
        server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        cluster.stop()
        raise RuntimeError(f"could not start PostgreSQL from {bin_dir}: {exc}\n{server_log}") from exc
    return cluster
