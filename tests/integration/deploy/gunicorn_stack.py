"""The production server as deployed: gunicorn with deploy/gunicorn.conf.py, several workers, a clients file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cds_service.dev.fhir_server import stop_process
from tests.support.jwt_factory import KeyPair, make_claims
from tests.support.service_process import EHR_ISS, free_port

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Gunicorn:
    base_url: str
    key: KeyPair
    process: subprocess.Popen
    log_path: Path
    metrics_dir: Path
    database: Path

    def hook(self, service_id: str, body: Any, *, auth: bool = True) -> requests.Response:
        path = f"/cds-services/{service_id}"
        headers = {"Content-Type": "application/json"}
        if auth:
            claims = make_claims(f"{self.base_url}{path}", EHR_ISS, jti=str(uuid.uuid4()))
            headers["Authorization"] = f"Bearer {self.key.sign(claims)}"
        # a new connection per call (no Session): calls are spread over the workers as the kernel hands them out
        return requests.post(f"{self.base_url}{path}", data=json.dumps(body), headers=headers, timeout=20)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base_url}{path}", timeout=10)

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        stop_process(self.process)


def start_gunicorn(tmp: Path, *, workers: int, threads: int = 1, fhir_servers: list[str] = (),  # type: ignore[assignment]
                   extra_env: dict[str, str] | None = None) -> Gunicorn:
    key = KeyPair.generate("ES384")
    clients = tmp / "clients.json"
    clients.write_text(json.dumps({"clients": [{"iss": EHR_ISS, "jwks": key.jwks(), "fhir_servers": list(fhir_servers)}]}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    metrics_dir = tmp / "metrics"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_", "PROMETHEUS_"))}
    env = {**inherited, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers),
           "GUNICORN_THREADS": str(threads), "CDS_PUBLIC_BASE_URL": base, "CDS_CLIENTS_FILE": str(clients),
           "CDS_POLICY_DATE": "2026-11-20", "CDS_DATABASE_URL": f"sqlite:///{tmp / 'cds.sqlite3'}",
           "CDS_HASH_KEY": "k" * 40, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), **(extra_env or {})}
    log_path = tmp / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                                    "cds_service.wsgi:app"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Gunicorn(base, key, process, log_path, metrics_dir, tmp / "cds.sqlite3")
    deadline = time.monotonic() + 40
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"gunicorn did not start: {log_path.read_text()[-2000:]}")
        booted = log_path.read_text().count("Booting worker")
        try:
            if booted >= workers and requests.get(f"{base}/healthz", timeout=1).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
