"""A local SEKMET FHIR R4 server (sekmet-fhir, a dev dependency) for the demo and the benchmarks.

    with start_fhir_server(Path("var/demo"), port=8096) as server:
        server.put_resources(resources)      # one transaction of PUTs
        ...                                  # server.base_url is http://127.0.0.1:8096/fhir

It always binds 127.0.0.1 and keeps its SQLite file, settings and log in `data_dir`.
The same logic as tests/support/sekmet.py, which is not shipped with the package.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests

from cds_service.errors import ConfigurationError

FHIR_JSON = "application/fhir+json"
START_TIMEOUT_S = 30.0
LOOPBACK = "127.0.0.1"


class FhirServerError(ConfigurationError, RuntimeError):
    """The FHIR server could not be started or refused data; the message says why."""


class FhirServer:
    """A running SEKMET process; `stop()` (or leaving the `with` block) terminates it."""

    def __init__(self, base_url: str, process: subprocess.Popen[bytes], log_path: Path, token: str | None) -> None:
        self.base_url = base_url
        self.process = process
        self.log_path = log_path
        self.token = token
        self._session = requests.Session()
        self._session.headers.update({"Content-Type": FHIR_JSON, "Accept": FHIR_JSON})
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def put_resources(self, resources: Iterable[dict[str, Any]]) -> int:
        """Store resources as one transaction of PUTs (so reloading is idempotent); returns how many.

        :raise FhirServerError: the server refused the transaction (it rolls back as a whole).
        """
        bundle = put_transaction(resources)
        response = self._session.post(self.base_url, json=bundle, timeout=60)
        if response.status_code >= 300:
            raise FhirServerError(f"transaction refused: HTTP {response.status_code}: {_outcome_text(response)}")
        return len(bundle["entry"])

    def wait_until_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Poll `/metadata` until it answers; raise FhirServerError if SEKMET exits or takes too long."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise FhirServerError(f"SEKMET exited with code {self.process.returncode}")
            try:
                if self._session.get(f"{self.base_url}/metadata", timeout=1).ok:
                    return
            except requests.RequestException:
                pass  # not listening yet
            time.sleep(0.1)
        raise FhirServerError(f"SEKMET did not answer {self.base_url}/metadata within {timeout_s:.0f} s")

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        self._session.close()
        stop_process(self.process)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate a child process; kill it if it has not exited within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def start_fhir_server(
    data_dir: Path,
    *,
    port: int | None = None,
    bearer_token: str | None = None,
    fresh: bool = True,
    log_requests: bool = True,
) -> FhirServer:
    """Start SEKMET on 127.0.0.1 and wait until `/metadata` answers.

    :param port: None picks a free port.
    :param bearer_token: None means no authentication (the browser-based CDS Hooks sandbox reads it directly).
    :param fresh: delete an earlier database in `data_dir`, so only what is loaded now is served.
    :param log_requests: SEKMET's own traffic log; off for benchmarks (it writes every request to SQLite).
    :raise FhirServerError: SEKMET is not installed or did not start within 30 s.
    """
    executable = _sekmet_executable()
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "fhir.db"
    if fresh:
        for stale in data_dir.glob("fhir.db*"):  # the database and its -wal/-shm files
            stale.unlink()
    port = port or free_loopback_port()
    base_url = f"http://{LOOPBACK}:{port}/fhir"
    settings = data_dir / "settings.yaml"
    settings.write_text(_settings_yaml(bearer_token, log_requests))
    log_path = data_dir / "sekmet.log"
    env = dict(os.environ, SEKMET_DB=str(database.resolve()), SEKMET_BASE_URL=base_url)
    command = [executable, "serve", "--config", str(settings.resolve()), "--host", LOOPBACK, "--port", str(port)]
    with log_path.open("wb") as log:
        # own session: a Ctrl-C in the terminal reaches only our process, which then stops SEKMET in order
        process = subprocess.Popen(command, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = FhirServer(base_url, process, log_path, bearer_token)
    try:
        server.wait_until_ready()
    except FhirServerError as error:
        server.stop()
        raise FhirServerError(f"{error}\n--- {log_path} ---\n{server.log_tail()}") from None
    except BaseException:  # e.g. Ctrl-C while waiting: never leave SEKMET running behind us
        server.stop()
        raise
    return server


def put_transaction(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle that PUTs each resource at its own `Type/id`."""
    entries = [
        {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}
        for resource in resources
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def free_loopback_port(preferred: Sequence[int] = ()) -> int:
    """The first of `preferred` that is free on 127.0.0.1, else one the OS picks."""
    for port in preferred:
        with socket.socket() as probe:
            # like the servers we start: a port whose old connections are in TIME_WAIT is free to them
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _settings_yaml(bearer_token: str | None, log_requests: bool) -> str:
    auth = f"{{types: [bearer], tokens: [{bearer_token}]}}" if bearer_token else "{types: [none]}"
    return (
        f"server_auth: {auth}\n"
        "simulator: {enabled: false}\n"  # it would otherwise act on our draft ServiceRequests by itself
        f"log_inbound: {'true' if log_requests else 'false'}\n"
    )


def _sekmet_executable() -> str:
    beside_python = Path(sys.executable).with_name("sekmet")
    found = str(beside_python) if beside_python.exists() else shutil.which("sekmet")
    if not found:
        raise FhirServerError("the SEKMET FHIR server is not installed: pip install -e '.[dev]' (sekmet-fhir)")
    return found


def _outcome_text(response: requests.Response) -> str:
    """The diagnostics of an OperationOutcome answer, else the start of the body."""
    try:
        issues = response.json().get("issue", [])
        return "; ".join(str(i.get("diagnostics") or i.get("details", {}).get("text") or i) for i in issues)[:2000]
    except (ValueError, AttributeError):
        return response.text[:2000]
