"""(c) Cold records (issue 12): order-sign for patients the service has never seen, 1,000 and 3,000 resources.

For each fresh patient, in turn: the floor (JWT check + parsing the same body, empty cards), the first
order-sign call (cold: nothing of this record was ever normalised), the same body again (warm), and a
JWT-signed `GET /cds-services`. Fetched: other fresh patients loaded into SEKMET, first call each, next to
SEKMET's own time for the same searches. gunicorn -w 1 with the deploy config, CDS_AUTH=on, loopback only.
`--cold-workers gevent,gthread` runs one server per worker class in the same run, calls interleaved.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cds_service.cdshooks.discovery import ORDER_SIGN
from cds_service.dev.fhir_server import start_fhir_server

from .app_factory import FLOOR_PATH
from .padding import padded_record
from .records import BenchRecord
from .service_bench import FHIR_TOKEN, Case, _search_all, bench_gunicorn
from .stats import Timing, percentile
from .tokens import ClientKey

# Targets of issue 12, for 1,000-resource records on 2 cores.
TARGET_COLD_P99_MS = 60.0
MAX_COLD_OVER_WARM = 1.5
MAX_COLD_OVER_FLOOR = 6.0
MAX_FETCHED_OVER_FHIR = 2.0
BODY_LIMIT = 16 * 1024 * 1024
# Each call finds the worker idle, as production's spaced calls for new patients do: without the pause a call
# would also pay for the previous one's clean-up (its objects are freed after its answer is sent), which
# would inflate the small GET most of all and flatter every ratio to it.
IDLE_BEFORE_CALL_S = 0.02


@dataclass(frozen=True)
class ColdRow:
    size: int
    series: dict[str, Timing]
    errors: int
    decisions: str
    worker_class: str = "gevent"

    def as_json(self) -> dict[str, Any]:
        return {"resources": self.size, "worker_class": self.worker_class, "errors": self.errors,
                "decisions": self.decisions, **{name: timing.summary() for name, timing in self.series.items()}}


def run(sizes: tuple[int, ...] = (1000, 3000), patients: int = 40, fetched_patients: int = 10,
        worker_classes: tuple[str, ...] = ("gevent",)) -> list[ColdRow]:
    """One gunicorn per worker class, all up at once; each patient goes to every server in turn (interleaved,
    so a busy machine slows every class alike)."""
    key = ClientKey()
    rows = []
    with tempfile.TemporaryDirectory(prefix="facet-cds-cold-") as scratch, ExitStack() as servers:
        directory = Path(scratch)
        fhir = servers.enter_context(start_fhir_server(directory / "fhir", bearer_token=FHIR_TOKEN, log_requests=False))
        fetched = {size: [[padded_record(f"cold{size}-{wc}-f{i}-{uuid.uuid4().hex[:6]}", size)
                           for i in range(fetched_patients)] for wc in worker_classes] for size in sizes}
        for per_class in fetched.values():
            for records in per_class:
                for record in records:
                    fhir.put_resources(record.resources)
        base_urls = []
        for worker_class in worker_classes:
            (directory / worker_class).mkdir()
            # A 3,000-resource prefetch is ~3 MB: above the 1 MB default body limit, so the bench raises it.
            env = {"CDS_MAX_BODY_BYTES": str(BODY_LIMIT), "GUNICORN_WORKER_CLASS": worker_class}
            base_urls.append(servers.enter_context(bench_gunicorn(directory / worker_class, fhir, key, env)))
        session = servers.enter_context(requests.Session())
        for size in sizes:
            count = patients if size <= 1000 else max(10, patients // 2)
            prefetched = [padded_record(f"cold{size}-p{i}-{uuid.uuid4().hex[:6]}", size) for i in range(count)]
            probes = [_Probe(session, base, fhir.base_url, key) for base in base_urls]
            warm_up = padded_record(f"cold{size}-warm-up-{uuid.uuid4().hex[:6]}", size)
            for probe in probes:
                probe.warm_up(warm_up)
            for record in prefetched:
                for probe in probes:  # the same fresh record is cold on each server: each has its own cache
                    probe.prefetched(record)
            for i in range(fetched_patients):
                for probe, records in zip(probes, fetched[size], strict=True):
                    probe.fetched(records[i])
            rows += [probe.row(size, wc) for probe, wc in zip(probes, worker_classes, strict=True)]
    return rows


class _Probe:
    """The series of one server."""

    def __init__(self, session: requests.Session, base_url: str, fhir_base: str, key: ClientKey) -> None:
        self.session, self.base_url, self.fhir_base, self.key = session, base_url, fhir_base, key
        self.hook_url = f"{base_url}/cds-services/{ORDER_SIGN.id}"
        self.floor_url = f"{base_url}{FLOOR_PATH}/{ORDER_SIGN.id}"
        self.samples: dict[str, list[float]] = {
            "GET /cds-services (JWT)": [], "floor (JWT + same body parsed)": [], "cold, prefetched": [],
            "warm, prefetched (same body again)": [], "cold, fetched from SEKMET": [],
            "SEKMET alone, same searches": []}
        self.answers: list[requests.Response] = []

    def post(self, url: str, body: dict[str, Any]) -> float:
        body["hookInstance"] = str(uuid.uuid4())
        data = json.dumps(body).encode()
        headers = {"Authorization": self.key.bearer(url), "Content-Type": "application/json"}
        time.sleep(IDLE_BEFORE_CALL_S)
        response = self.session.post(url, data=data, headers=headers, timeout=60)
        self.answers.append(response)
        return response.elapsed.total_seconds() * 1000

    def get_discovery(self) -> float:
        url = f"{self.base_url}/cds-services"
        headers = {"Authorization": self.key.bearer(url)}
        time.sleep(IDLE_BEFORE_CALL_S)
        response = self.session.get(url, headers=headers, timeout=30)
        return response.elapsed.total_seconds() * 1000

    def warm_up(self, record: BenchRecord) -> None:
        """A worker's first calls pay imports, policy loading and model building: a start-up cost, not a cold
        record's, so one throwaway patient goes first (untimed; every timed patient is still new)."""
        self.get_discovery()
        body = Case(record, prefetched=True).body(self.fhir_base)
        self.post(self.floor_url, body)
        self.post(self.hook_url, body)

    def prefetched(self, record: BenchRecord) -> None:
        body = Case(record, prefetched=True).body(self.fhir_base)
        self.samples["floor (JWT + same body parsed)"].append(self.post(self.floor_url, body))
        self.samples["cold, prefetched"].append(self.post(self.hook_url, body))
        self.samples["warm, prefetched (same body again)"].append(self.post(self.hook_url, body))
        self.samples["GET /cds-services (JWT)"].append(self.get_discovery())

    def fetched(self, record: BenchRecord) -> None:
        body = Case(record, prefetched=False).body(self.fhir_base)
        self.samples["cold, fetched from SEKMET"].append(self.post(self.hook_url, body))
        started = _now_ms()
        _search_all(self.session, self.fhir_base, record.patient_id)
        self.samples["SEKMET alone, same searches"].append(_now_ms() - started)

    def row(self, size: int, worker_class: str) -> ColdRow:
        answers = self.answers
        errors = sum(1 for a in answers if a.status_code != 200)
        if errors:  # an error answer is fast and would flatter the figures: say so, never time it as a call
            statuses = sorted({a.status_code for a in answers if a.status_code != 200})
            raise RuntimeError(f"{errors} calls of the {size}-resource series failed with HTTP {statuses}")
        decisions = "; ".join(sorted({(a.json().get("cards") or [{"summary": "(no card)"}])[0]["summary"]
                                      for a in answers if a.status_code == 200 and a.url == self.hook_url}))
        row = ColdRow(size, {n: Timing(tuple(v)) for n, v in self.samples.items() if v}, errors, decisions,
                      worker_class)
        self.answers = []
        self.samples = {n: [] for n in self.samples}
        return row


def _now_ms() -> float:
    return time.perf_counter() * 1000


def table(rows: list[ColdRow]) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"(c) cold records: fresh unique patients, gunicorn -w 1, CDS_AUTH=on (ms, client-measured); "
             f"load average at the end {load}"]
    for row in rows:
        lines.append(f"-- {row.size} resources per patient, {row.worker_class} worker; {row.errors} errors; "
                     f"answers: {row.decisions}")
        width = max(len(name) for name in row.series)
        lines.append(f"{'series':<{width}}  {'n':>3}  {'p50':>7}  {'p99':>7}")
        for name, timing in row.series.items():
            lines.append(f"{name:<{width}}  {timing.count:>3}  {timing.median:>7.1f}  {timing.p99:>7.1f}")
        lines.extend(_verdicts(row))
    return "\n".join(lines)


def _verdicts(row: ColdRow) -> list[str]:
    s = row.series
    cold, warm = s["cold, prefetched"], s["warm, prefetched (same body again)"]
    floor = s["GET /cds-services (JWT)"]
    out = [
        f"targets (issue 12 sets them for 1,000 resources; this row {row.size}): "
        f"cold p99 <= {TARGET_COLD_P99_MS:g} ms: "
        f"{_verdict(cold.p99 <= TARGET_COLD_P99_MS)} ({cold.p99:.1f}); "
        f"cold p50 <= {MAX_COLD_OVER_WARM:g} x warm p50: {_verdict(cold.median <= MAX_COLD_OVER_WARM * warm.median)} "
        f"({cold.median / warm.median:.2f}x); cold p50 <= {MAX_COLD_OVER_FLOOR:g} x floor: "
        f"{_verdict(cold.median <= MAX_COLD_OVER_FLOOR * floor.median)} ({cold.median / floor.median:.1f}x)"
    ]
    if "cold, fetched from SEKMET" in s:
        fetched, alone = s["cold, fetched from SEKMET"], s["SEKMET alone, same searches"]
        out.append(f"fetched p50 <= {MAX_FETCHED_OVER_FHIR:g} x SEKMET alone: "
                   f"{_verdict(fetched.median <= MAX_FETCHED_OVER_FHIR * alone.median)} "
                   f"({fetched.median / alone.median:.2f}x; p99 {percentile(fetched.samples_ms, 99):.1f})")
    return out


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
