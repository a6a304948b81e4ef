"""(b) order-sign latency over HTTP: gunicorn -w 1 with the deploy config, CDS_AUTH=on, SEKMET as the EHR.

Each case is timed next to its floor (bench/app_factory.py) with the same JWT handling and body, calls
alternating between the two. Everything binds 127.0.0.1 and is stopped at the end.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cds_service.cdshooks.discovery import ORDER_SIGN
from cds_service.dev.fhir_server import FhirServer, free_loopback_port, start_fhir_server, stop_process
from cds_service.fhir_access.client import SEARCH_PAGE_SIZE
from cds_service.fhir_access.queries import EVIDENCE_QUERIES, render_template

from .app_factory import FLOOR_PATH
from .records import DATE_OF_SERVICE, BenchRecord
from .stats import Step, Timing, time_interleaved
from .tokens import ClientKey

REPO = Path(__file__).resolve().parent.parent
FHIR_TOKEN = "bench-fhir-token"
TARGET_P99_MS = {True: 50.0, False: 100.0}  # prefetched, fetched
MAX_FLOOR_RATIO = 3.0
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Case:
    record: BenchRecord
    prefetched: bool

    @property
    def label(self) -> str:
        how = "prefetched" if self.prefetched else "fetched from SEKMET"
        return f"{self.record.label} ({len(self.record.resources)} res.), {how}"

    def body(self, fhir_base: str) -> dict[str, Any]:
        context = {"userId": "Practitioner/bench", "patientId": self.record.patient_id,
                   "draftOrders": self.record.draft_orders}
        body: dict[str, Any] = {"hook": "order-sign", "hookInstance": "", "context": context}
        if self.prefetched:  # and no fhirServer: a call that tried to fetch would fail with 412
            body["prefetch"] = self.record.prefetch()
        else:
            body["fhirServer"] = fhir_base
            body["fhirAuthorization"] = {"access_token": FHIR_TOKEN, "token_type": "Bearer", "expires_in": 300,
                                         "scope": "patient/*.read", "subject": "facet-cds"}
        return body


@dataclass(frozen=True)
class ServiceRow:
    case: Case
    timing: Timing
    floor: Timing
    errors: int
    decisions: str
    fhir_alone: Timing | None = None  # fetched cases: the same searches sent straight to SEKMET, in parallel

    @property
    def target_ms(self) -> float:
        return TARGET_P99_MS[self.case.prefetched]

    @property
    def floor_ratio(self) -> float:
        return self.timing.p99 / self.floor.p99

    def as_json(self) -> dict[str, Any]:
        return {"case": self.case.label, **self.timing.summary(),
                "floor": self.floor.summary(), "p99_over_floor_p99": round(self.floor_ratio, 2),
                "p99_target_ms": self.target_ms, "meets_p99_target": self.timing.p99 <= self.target_ms,
                "max_floor_ratio": MAX_FLOOR_RATIO, "meets_floor_target": self.floor_ratio <= MAX_FLOOR_RATIO,
                "errors": self.errors, "decisions": self.decisions,
                **({"fhir_searches_alone": self.fhir_alone.summary()} if self.fhir_alone else {})}


def run(records: list[BenchRecord], calls: int = 200) -> tuple[list[ServiceRow], dict[str, Any]]:
    """Every record prefetched and fetched; returns the rows and how the service was run."""
    key = ClientKey()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="facet-cds-bench-") as scratch:
        directory = Path(scratch)
        with start_fhir_server(directory / "fhir", bearer_token=FHIR_TOKEN, log_requests=False) as fhir:
            for record in records:
                fhir.put_resources(record.resources)
            with bench_gunicorn(directory, fhir, key) as base_url, requests.Session() as session:
                rows = [_measure(session, base_url, fhir, key, Case(record, prefetched), calls)
                        for record in records for prefetched in (True, False)]
    setup = {"server": "gunicorn -w 1 (gevent, deploy/gunicorn.conf.py)", "auth": "CDS_AUTH=on, ES384",
             "record_cache": "disabled (every fetched call reads SEKMET)", "fhir": "SEKMET 0.1.1, bearer auth",
             "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)], "cpus": os.cpu_count()}
    return rows, setup


def _measure(session: requests.Session, base_url: str, fhir: FhirServer, key: ClientKey, case: Case,
             calls: int) -> ServiceRow:
    body = case.body(fhir.base_url)
    hook_url = f"{base_url}/cds-services/{ORDER_SIGN.id}"
    floor_url = f"{base_url}{FLOOR_PATH}/{ORDER_SIGN.id}"
    answers: list[requests.Response] = []

    def request_for(url: str) -> Any:
        def make() -> tuple[str, bytes, dict[str, str]]:
            body["hookInstance"] = str(uuid.uuid4())
            return (
                url,
                json.dumps(body).encode(),
                {"Authorization": key.bearer(url), "Content-Type": "application/json"},
            )

        return make

    def post(prepared: Any) -> None:
        url, data, headers = prepared
        answers.append(session.post(url, data=data, headers=headers, timeout=30))

    steps = {"floor": Step(request_for(floor_url), post), "hook": Step(request_for(hook_url), post)}
    if not case.prefetched:  # what SEKMET alone costs for the same searches: the part no service can remove
        steps["fhir"] = Step(lambda: None, lambda _: _search_all(session, fhir.base_url, case.record.patient_id))
    timings = time_interleaved(steps, count=calls, warmup=5, max_seconds=60)
    hook_answers = answers[1::2]  # floor, hook, floor, hook, ...
    errors = sum(1 for a in answers if a.status_code != 200)
    return ServiceRow(case, timings["hook"], timings["floor"], errors, _decisions(hook_answers), timings.get("fhir"))


_SEARCH_POOL = ThreadPoolExecutor(max_workers=16)


def _search_all(session: requests.Session, fhir_base: str, patient_id: str) -> None:
    """Every evidence query of discovery against SEKMET, in parallel, as the service's fetch does."""
    context = {"patientId": patient_id}
    urls = [f"{fhir_base}/{render_template(q.template, context)}" + ("" if q.is_read else f"&_count={SEARCH_PAGE_SIZE}")
            for q in EVIDENCE_QUERIES]
    headers = {"Authorization": f"Bearer {FHIR_TOKEN}", "Accept": "application/fhir+json"}
    for response in _SEARCH_POOL.map(lambda u: session.get(u, headers=headers, timeout=30), urls):
        response.json()


def _decisions(answers: list[requests.Response]) -> str:
    """The first card summary of each distinct answer, to show what the service decided."""
    summaries = set()
    for answer in answers:
        if answer.status_code == 200:
            cards = answer.json().get("cards", [])
            summaries.add(cards[0]["summary"] if cards else "(no card)")
        else:
            summaries.add(f"HTTP {answer.status_code}")
    return "; ".join(sorted(summaries))


@contextmanager
def bench_gunicorn(directory: Path, fhir: FhirServer, key: ClientKey,
                   extra_env: dict[str, str] | None = None, app_spec: str = "bench.app_factory:create_bench_app()",
                   ) -> Iterator[str]:
    """The product app plus the floor route, one gunicorn worker on a free loopback port.

    extra_env may pick the worker class (GUNICORN_WORKER_CLASS=gthread; the deploy config defaults to gevent).
    """
    port = free_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    clients_file = directory / "clients.json"
    clients_file.write_text(json.dumps(key.clients_file([fhir.base_url])))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_", "PROMETHEUS_"))}
    env = {**inherited, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1",
           "CDS_AUTH": "on", "CDS_CLIENTS_FILE": str(clients_file), "CDS_PUBLIC_BASE_URL": base_url,
           "CDS_DATABASE_URL": f"sqlite:///{directory / 'cds.sqlite3'}", "CDS_POLICY_DATE": DATE_OF_SERVICE.isoformat(),
           **(extra_env or {})}
    command = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"),
               app_spec]
    log_path = directory / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        _wait_healthy(base_url, process, log_path)
        yield base_url
    finally:
        stop_process(process)


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not become healthy\n--- {log_path} ---\n{log_path.read_text()[-2000:]}")
