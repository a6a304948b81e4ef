"""SIGTERM with CDS_DRAIN_SECONDS: /readyz turns 503 while calls are still answered, then the process exits.

Both ways of starting the production server: `python -m cds_service serve` and gunicorn with deploy/gunicorn.conf.py.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

import requests

from tests.support.hook_bodies import hook_body
from tests.support.scenarios import scenario
from tests.support.service_process import start_gunicorn, start_service

REPO = Path(__file__).resolve().parents[3]
DRAIN_S = "3"  # long enough to probe inside the window on a loaded machine; the test waits for the exit


def test_dev_server_drains_on_sigterm_then_exits(tmp_path: Path) -> None:
    service = start_service(tmp_path, extra_env={"CDS_DRAIN_SECONDS": DRAIN_S})
    try:
        assert service.get("/readyz").status_code == 200
        service.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # serve is gunicorn: its master relays SIGTERM to the workers (a head start, not a timing assertion)
        ready = service.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "draining"
        # Still answering: a call that arrives before the balancer noticed is served, not dropped.
        call = service.hook("facet-order-sign", hook_body(scenario("dx-four-levels"), "order-sign"))
        assert call.status_code == 200
        assert service.process.wait(timeout=30) == 0
        assert "SIGTERM: draining" in service.log()
    finally:
        service.stop()


def test_gunicorn_workers_drain_on_sigterm(tmp_path: Path) -> None:
    gunicorn = start_gunicorn(tmp_path, workers=2, ready_path="/readyz", extra_env={"CDS_DRAIN_SECONDS": DRAIN_S})
    process, base, log_path = gunicorn.process, gunicorn.base_url, gunicorn.log_path
    try:
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the master relays SIGTERM to the workers: not a timing assertion, a head start
        statuses = {requests.get(f"{base}/readyz", timeout=5).status_code for _ in range(6)}
        assert statuses == {503}, log_path.read_text()[-2000:]
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        assert process.wait(timeout=40) == 0
        # Each worker that had loaded the app drains (one still booting when SIGTERM came just exits).
        assert "SIGTERM: draining for 3 s" in log_path.read_text()
    finally:
        gunicorn.stop()
