"""A worker killed with SIGKILL in the middle of load: every call the EHR got an answer for is in the audit.

Bounded: 4 client threads on loopback for about 6 s against `python -m cds_service serve` (gunicorn, 2 workers,
CDS_AUTH=on, SQLite store); one worker is killed 2 s in, and gunicorn starts a new one.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.hook_bodies import hook_body
from tests.support.jwt_factory import KeyPair, make_claims
from tests.support.scenarios import scenario
from tests.support.service_process import free_port

REPO = Path(__file__).resolve().parents[3]
ISS = "https://ehr.kill-drill.example"
ORDER_SIGN = "facet-order-sign"
LOAD_SECONDS, KILL_AFTER_S, CLIENT_THREADS = 6.0, 2.0, 4


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], KeyPair, Path]]:
    key = KeyPair.generate("ES384")
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": [{"iss": ISS, "jwks": key.jwks(), "fhir_servers": []}]}))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = tmp_path / "audit.sqlite3"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_", "PROMETHEUS_"))}
    env = {**inherited, "GUNICORN_WORKERS": "2", "CDS_AUTH": "on",
           "CDS_CLIENTS_FILE": str(clients), "CDS_PUBLIC_BASE_URL": base, "CDS_DATABASE_URL": f"sqlite:///{database}",
           "CDS_HASH_KEY": "k" * 40, "CDS_POLICY_DATE": "2026-11-20"}
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(_children(process.pid)) < 2 or not _ready(base):
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.2)
        yield base, process, key, database
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=1).ok
    except requests.RequestException:
        return False


def test_every_answered_call_is_audited_when_a_worker_is_killed(gunicorn) -> None:
    base, process, key, database = gunicorn
    url = f"{base}/cds-services/{ORDER_SIGN}"
    body = hook_body(scenario("dx-four-levels"), "order-sign")
    answered: list[str] = []
    broken = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_SECONDS

    def client() -> None:
        nonlocal broken
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                instance = str(uuid.uuid4())
                token = key.sign(make_claims(url, ISS, jti=str(uuid.uuid4())))
                try:
                    answer = session.post(url, json={**body, "hookInstance": instance}, timeout=20,
                                          headers={"Authorization": f"Bearer {token}"})
                except requests.RequestException:
                    with lock:
                        broken += 1  # in flight on the killed worker: the EHR got no answer
                    continue
                if answer.status_code == 200:
                    with lock:
                        answered.append(instance)

    threads = [threading.Thread(target=client) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(KILL_AFTER_S)
    victim = _children(process.pid)[0]
    os.kill(victim, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=60)

    assert answered, "no call was answered"
    with sqlite3.connect(database) as connection:
        audited = {row[0] for row in connection.execute("SELECT hook_instance FROM audit WHERE status = 200")}
    missing = [instance for instance in answered if instance not in audited]
    assert not missing, f"{len(missing)} of {len(answered)} answered calls have no audit row"
    # gunicorn replaced the killed worker and the service still answers.
    deadline = time.monotonic() + 30
    while victim in _children(process.pid) or len(_children(process.pid)) < 2:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.2)
    token = key.sign(make_claims(url, ISS, jti=str(uuid.uuid4())))
    after = requests.post(url, json={**body, "hookInstance": str(uuid.uuid4())}, timeout=20,
                          headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 200
