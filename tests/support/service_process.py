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
from tests.unit.security.jwt_factory import KeyPair, make_claims

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
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
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
