"""Run the CDS service as a real server process on loopback, and call it as an EHR would (signed JWTs)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cds_service.dev.fhir_server import stop_process
from tests.support.jwt_factory import KeyPair, make_claims

REPO = Path(__file__).resolve().parents[2]
EHR_ISS = "https://ehr.test.example"  # a made-up issuer; nothing is ever fetched from it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServiceProcess:
    base_url: str
    key: KeyPair
    iss: str
    process: subprocess.Popen
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    def token(self, path: str, **claim_overrides: Any) -> str:
        return self.key.sign(make_claims(f"{self.base_url}{path}", self.iss, jti=str(uuid.uuid4()), **claim_overrides))

    def post(self, path: str, body: Any, *, auth: bool = True, headers: dict[str, str] | None = None,
             timeout: float = 20) -> requests.Response:
        h = {"Content-Type": "application/json", **(headers or {})}
        if auth:
            h["Authorization"] = f"Bearer {self.token(path)}"
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.session.post(f"{self.base_url}{path}", data=data, headers=h, timeout=timeout)

    def hook(self, service_id: str, body: Any, **kw: Any) -> requests.Response:
        return self.post(f"/cds-services/{service_id}", body, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", timeout=10, **kw)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def start_service(tmp: Path, *, fhir_servers: list[str] | None = None, clients: list[dict[str, Any]] | None = None,
                  iss: str = EHR_ISS, extra_env: dict[str, str] | None = None, key: KeyPair | None = None) -> ServiceProcess:
    """`python -m cds_service serve` trusting one test EHR (`iss`, `key`, `fhir_servers`), or the `clients` given."""
    tmp.mkdir(parents=True, exist_ok=True)
    key = key or KeyPair.generate("ES384")
    clients = clients or [{"iss": iss, "jwks": key.jwks(), "fhir_servers": fhir_servers or []}]
    clients_file = tmp / "clients.json"
    clients_file.write_text(json.dumps({"clients": clients}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CDS_CLIENTS_FILE": str(clients_file),
        "CDS_PUBLIC_BASE_URL": base,
        "CDS_DATABASE_URL": f"sqlite:///{tmp / 'cds.sqlite3'}",
        "CDS_POLICY_DATE": "2026-11-20",
        "CDS_FHIR_TIMEOUT_S": "3",
        "CDS_LOG_FORMAT": "text",  # the production server logs JSON by default; these tests read lines as text
        **(extra_env or {}),  # may override any of the above
    }
    log_path = tmp / "service.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    service = ServiceProcess(base, key, iss, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited: {log_path.read_text()[-2000:]}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                return service
        except requests.RequestException:
            pass
        time.sleep(0.1)
    service.stop()
    raise RuntimeError(f"service did not start: {log_path.read_text()[-2000:]}")


@dataclass
class GunicornProcess:
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        stop_process(self.process)


def start_gunicorn(tmp: Path, *, workers: int, ready_path: str = "/healthz",
                   extra_env: dict[str, str] | None = None) -> GunicornProcess:
    """gunicorn with deploy/gunicorn.conf.py on a free loopback port (CDS_AUTH=off, SQLite in `tmp`), once
    `ready_path` answers 200. The caller stops it (`.stop()`); no CDS_/GUNICORN_/PROMETHEUS_ variable is inherited."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_", "PROMETHEUS_"))}
    env = {**inherited, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers), "CDS_AUTH": "off",
           "CDS_DATABASE_URL": f"sqlite:///{tmp / 'cds.sqlite3'}", **(extra_env or {})}
    log_path = tmp / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                    "cds_service.wsgi:app"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
            try:
                if requests.get(f"{base}{ready_path}", timeout=1).status_code == 200:
                    return GunicornProcess(base, process, log_path)
            except requests.RequestException:
                time.sleep(0.2)
    except BaseException:
        stop_process(process)
        raise
