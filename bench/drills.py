"""Load and drills (issue 11), against the production server on loopback with PostgreSQL as its store.

    python -m bench --drills-only [--soak-minutes 10]

1. throughput: wrk at full speed, 2/4/8/16 connections: calls/s, p50/p99 (target >= 300/s on 2 cores)
2. fixed rate: wrk paced to 150 calls/s: achieved rate, p50/p99 (target p99 <= 100 ms)
3. soak: N minutes paced: zero failed calls, worker memory growth after warm-up (target <= 10%)
4. kill -9 of a worker mid-load: every call answered 200 has its audit row
5. PostgreSQL restart mid-load: what callers got while it was down; zero failed calls once it is back

Every call is a signed order-sign for the prefetched demo record (ES384, a fresh jti each, CDS_AUTH=on).
Everything binds 127.0.0.1, each run is bounded in time, and every process is stopped at the end.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import requests

from cds_service.cdshooks.discovery import ORDER_SIGN
from cds_service.dev.fhir_server import free_loopback_port, stop_process

from .records import DATE_OF_SERVICE, demo_record
from .tokens import ClientKey
from .wrk_script import WrkResult, lua_script, parse_result, write_inputs

REPO = Path(__file__).resolve().parent.parent
WORKERS = int(os.environ.get("BENCH_WORKERS", str(os.cpu_count() or 2)))
THROUGHPUT_TARGET = 300.0
THROUGHPUT_CONNECTIONS, THROUGHPUT_SECONDS = (2, 4, 8, 16), 15.0
FIXED_RATE, FIXED_RATE_P99_TARGET_MS = 150.0, 100.0
SOAK_RATE, SOAK_WARMUP_S, SOAK_GROWTH_TARGET = 60.0, 60.0, 0.10
PACED_CONNECTIONS = 8
SIGNING_MARGIN = 1.3  # more tokens than the target rate needs: the achieved rate may overshoot a little


@dataclass(frozen=True)
class Stack:
    base_url: str
    master_pid: int
    database_url: str
    cluster: Any  # tests.integration.postgres.cluster.PostgresCluster
    key: ClientKey
    scratch: Path

    @property
    def hook_path(self) -> str:
        return f"/cds-services/{ORDER_SIGN.id}"

    def worker_pids(self) -> list[int]:
        children: list[int] = []
        for task in Path(f"/proc/{self.master_pid}/task").iterdir():
            text = (task / "children").read_text().split()
            children += [int(pid) for pid in text]
        return children

    def audited(self, tag: str, status: int = 200) -> int:
        with psycopg.connect(self.database_url) as connection:
            row = connection.execute("SELECT count(*) FROM audit WHERE hook_instance LIKE %s AND status = %s",
                                     (f"{tag}-%", status)).fetchone()
        return int(row[0]) if row else 0


def run_wrk(stack: Stack, *, seconds: float, connections: int, rate: float | None = None,
            stop: threading.Event | None = None,
            on_start: Callable[[], None] | None = None) -> tuple[WrkResult, str]:
    """One wrk run; `rate` paces it (closed loop: each connection waits between calls); `on_start` runs once
    wrk is sending (tokens are signed before), `stop` ends the run early."""
    delay_ms = _paced_delay_ms(stack, connections, rate) if rate else None
    return _wrk(stack, seconds=seconds, connections=connections, delay_ms=delay_ms, stop=stop, on_start=on_start)


def _wrk(stack: Stack, *, seconds: float, connections: int, delay_ms: float | None,
         stop: threading.Event | None = None,
         on_start: Callable[[], None] | None = None) -> tuple[WrkResult, str]:
    tag = uuid.uuid4().hex[:8]
    rate = connections / delay_ms * 1000 if delay_ms else THROUGHPUT_TARGET * 2
    audience = f"{stack.base_url}{stack.hook_path}"
    expires = time.time() + seconds + 600
    tokens = [stack.key.bearer(audience, expires_at=expires).removeprefix("Bearer ")
              for _ in range(int(rate * seconds * SIGNING_MARGIN) + 100)]
    record = demo_record()
    body = {"hook": "order-sign", "hookInstance": "", "prefetch": record.prefetch(),
            "context": {"userId": "Practitioner/bench", "patientId": record.patient_id,
                        "draftOrders": record.draft_orders}}
    run_dir = stack.scratch / f"wrk-{tag}"
    run_dir.mkdir()
    tokens_path, body_path = write_inputs(run_dir, tokens, body)
    script = run_dir / "calls.lua"
    script.write_text(lua_script(paced=delay_ms is not None))
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(script),
               stack.base_url, "--", str(tokens_path), str(body_path), stack.hook_path, str(threads), tag,
               f"{delay_ms or 0:.1f}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)  # wrk has installed its SIGINT handler and connected
    if on_start is not None:
        threading.Thread(target=on_start, daemon=True).start()
    if stop is not None:
        def interrupt() -> None:
            stop.wait(seconds + 5)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # wrk stops, prints its summary and runs done()

        threading.Thread(target=interrupt, daemon=True).start()
    output, _ = process.communicate(timeout=seconds + 60)
    return parse_result(output), tag


_delays: dict[tuple[int, float], float] = {}


def _paced_delay_ms(stack: Stack, connections: int, rate: float) -> float:
    """wrk's delay() per call for `rate`. Pacing is closed loop (a connection waits `delay` after each answer),
    so two short probes measure what a call adds on top of its delay at this rate, and the delay gives it back."""
    key = (connections, rate)
    if key not in _delays:
        cycle_ms = connections / rate * 1000
        delay_ms = cycle_ms
        for _ in range(2):
            probe, _ = _wrk(stack, seconds=3, connections=connections, delay_ms=max(delay_ms, 0.1))
            if probe.rate:
                delay_ms -= connections / probe.rate * 1000 - cycle_ms
        _delays[key] = max(0.0, delay_ms)
    return _delays[key]


def throughput(stack: Stack) -> dict[str, Any]:
    """Full speed at each connection count; the row shows the best, its detail every one. Peak throughput is a
    property of the concurrency too: past a few connections per core, calls only queue (and cost more)."""
    sweep = {connections: run_wrk(stack, seconds=THROUGHPUT_SECONDS, connections=connections)[0]
             for connections in THROUGHPUT_CONNECTIONS}
    best_connections, best = max(sweep.items(), key=lambda item: item[1].rate)
    return {"series": f"throughput (full speed, {THROUGHPUT_SECONDS:.0f} s at each of "
                      f"{'/'.join(map(str, THROUGHPUT_CONNECTIONS))} connections; best: {best_connections})",
            **best.as_json(), "sweep": {str(c): r.as_json() for c, r in sweep.items()},
            "target": f">= {THROUGHPUT_TARGET:.0f} calls/s", "meets_target": best.rate >= THROUGHPUT_TARGET,
            "failed": sum(r.failed for r in sweep.values())}


def fixed_rate(stack: Stack) -> dict[str, Any]:
    result, _ = run_wrk(stack, seconds=20, connections=PACED_CONNECTIONS, rate=FIXED_RATE)
    return {"series": f"fixed rate ({FIXED_RATE:.0f} calls/s asked, {PACED_CONNECTIONS} connections, 20 s)",
            **result.as_json(), "target": f"p99 <= {FIXED_RATE_P99_TARGET_MS:.0f} ms at >= 90% of the rate asked",
            "meets_target": result.p99_ms <= FIXED_RATE_P99_TARGET_MS and result.rate >= 0.9 * FIXED_RATE,
            "failed": result.failed}


def soak(stack: Stack, minutes: float) -> dict[str, Any]:
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not done.wait(5):
            samples.append((time.monotonic() - started, sum(_rss_kib(pid) for pid in stack.worker_pids())))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result, _ = run_wrk(stack, seconds=minutes * 60, connections=PACED_CONNECTIONS, rate=SOAK_RATE)
    finally:
        done.set()
        sampler.join()
    warm = [rss for at, rss in samples if at >= SOAK_WARMUP_S] or [rss for _, rss in samples]
    growth = (warm[-1] - warm[0]) / warm[0] if warm and warm[0] else 0.0
    return {"series": f"soak ({minutes:g} min at {SOAK_RATE:.0f} calls/s)", **result.as_json(),
            "failed": result.failed, "workers_rss_mib_after_warmup": round(warm[0] / 1024, 1) if warm else None,
            "workers_rss_mib_end": round(warm[-1] / 1024, 1) if warm else None,
            "rss_growth": round(growth, 3), "target": "0 failed, RSS growth <= 10% after 1 min",
            "meets_target": result.failed == 0 and growth <= SOAK_GROWTH_TARGET}


def worker_killed(stack: Stack) -> dict[str, Any]:
    """SIGKILL one worker 5 s into a 15 s run: its in-flight calls break, every answered call is audited."""
    victims: list[int] = []

    def kill_one() -> None:
        time.sleep(5)
        pids = stack.worker_pids()
        if pids:
            victims.append(pids[0])
            os.kill(pids[0], signal.SIGKILL)

    result, tag = run_wrk(stack, seconds=15, connections=8, on_start=kill_one)
    time.sleep(1)  # the last answers' audit rows are committed before they are sent; this is only slack
    audited = stack.audited(tag)
    return {"series": "kill -9 of a worker mid-load (8 connections, 15 s)", **result.as_json(),
            "killed_worker": bool(victims), "answered_200": result.ok, "failed": result.failed, "audited_200": audited,
            "target": "every call answered 200 is in the audit", "meets_target": bool(victims) and audited >= result.ok}


def postgres_restart(stack: Stack) -> dict[str, Any]:
    """PostgreSQL stopped 3 s into a run and started 3 s later; then 10 s more that must not fail once."""
    stop = threading.Event()
    timeline: dict[str, float] = {}

    def restart() -> None:
        time.sleep(3)
        stack.cluster.stop_server()
        timeline["down_s"] = time.monotonic()
        time.sleep(3)
        stack.cluster.start_server()
        timeline["up_s"] = time.monotonic()
        stop.set()

    during, _ = run_wrk(stack, seconds=30, connections=8, stop=stop, on_start=restart)
    after, _ = run_wrk(stack, seconds=10, connections=8)
    return {"series": "PostgreSQL restart mid-load (8 connections)",
            "during": {**during.as_json(), "outage_s": round(timeline["up_s"] - timeline["down_s"], 1)},
            "after": after.as_json(), "failed_after": after.failed,
            "statuses_during_not_200_or_503": sum(n for s, n in during.statuses.items() if s not in (200, 503)),
            "target": "0 failed calls once it is back; 503 (never 500) while down",
            "meets_target": after.failed == 0 and all(s in (200, 503) for s in during.statuses)}


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass  # a worker that just exited
    return 0


def why_not() -> str | None:
    """Why the drills cannot run here (no wrk or no PostgreSQL), or None."""
    from tests.integration.postgres.cluster import why_no_cluster

    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode != 0:
        return "wrk is not installed (Debian: apt-get install wrk; `make bench` does)"
    return why_no_cluster()


@contextmanager
def production_stack() -> Iterator[Stack]:
    """PostgreSQL + `python -m cds_service serve` (the production server, as deploy/ runs it), WORKERS workers."""
    from tests.integration.postgres.cluster import start_cluster

    key = ClientKey()
    with tempfile.TemporaryDirectory(prefix="facet-cds-drills-") as scratch:
        directory = Path(scratch)
        cluster = start_cluster()
        try:
            database_url = cluster.create_database("drills")
            port = free_loopback_port()
            base_url = f"http://127.0.0.1:{port}"
            clients_file = directory / "clients.json"
            clients_file.write_text(json.dumps(key.clients_file([])))
            inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_", "PROMETHEUS_"))}
            env = {**inherited, "GUNICORN_WORKERS": str(WORKERS),
                   "CDS_AUTH": "on", "CDS_CLIENTS_FILE": str(clients_file), "CDS_PUBLIC_BASE_URL": base_url,
                   "CDS_DATABASE_URL": database_url, "CDS_HASH_KEY": uuid.uuid4().hex * 2,
                   "CDS_POLICY_DATE": DATE_OF_SERVICE.isoformat(), "CDS_LOG_FORMAT": "json"}
            command = [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", str(port)]
            log_path = directory / "service.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            try:
                _wait_ready(base_url, process, log_path, WORKERS)
                yield Stack(base_url, process.pid, database_url, cluster, key, directory)
            finally:
                stop_process(process)
        finally:
            cluster.stop()


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{base_url}/readyz", timeout=1).ok:
                time.sleep(1)  # the other workers finish booting
                return
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.2)
    raise RuntimeError(f"the service did not become ready:\n{log_path.read_text(errors='replace')[-3000:]}")


def run(soak_minutes: float = 10.0) -> list[dict[str, Any]]:
    reason = why_not()
    if reason:
        return [{"series": "drills", "skipped": reason}]
    rows = []
    with production_stack() as stack:
        setup = {"series": "setup", "server": f"python -m cds_service serve (gunicorn, gevent), {WORKERS} workers",
                 "store": "PostgreSQL (throwaway cluster, loopback)", "auth": "CDS_AUTH=on, ES384",
                 "record": "demo record, prefetched", "cpus": os.cpu_count(),
                 "load_average_1min": round(os.getloadavg()[0], 2)}
        rows.append(setup)
        for step in (throughput, fixed_rate):
            rows.append(step(stack))
            print(_line(rows[-1]), flush=True)
        if soak_minutes > 0:
            rows.append(soak(stack, soak_minutes))
            print(_line(rows[-1]), flush=True)
        for step in (worker_killed, postgres_restart):
            rows.append(step(stack))
            print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["Load and drills (wrk on loopback; PostgreSQL store)", ""]
    for row in rows:
        if "skipped" in row:
            lines.append(f"drills skipped: {row['skipped']}")
            continue
        if row["series"] == "setup":
            lines.append(", ".join(f"{k}: {v}" for k, v in row.items() if k != "series"))
            lines.append("")
            lines.append("| series | calls/s | p50 ms | p99 ms | failed | detail | target | met |")
            lines.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
            continue
        main = row.get("after", row)
        detail = _detail(row)
        lines.append(f"| {row['series']} | {main['rate_per_s']} | {main['p50_ms']} | {main['p99_ms']} | "
                     f"{row.get('failed', row.get('failed_after'))} | {detail} | {row['target']} | "
                     f"{'yes' if row['meets_target'] else 'NO'} |")
    return "\n".join(lines)


def _detail(row: dict[str, Any]) -> str:
    if "sweep" in row:
        return "; ".join(f"{c} connections: {r['rate_per_s']}/s, p50 {r['p50_ms']}, p99 {r['p99_ms']}"
                         for c, r in row["sweep"].items()) + f"; statuses {row['statuses']}"
    if "rss_growth" in row:
        return (f"workers RSS {row['workers_rss_mib_after_warmup']} → {row['workers_rss_mib_end']} MiB "
                f"({row['rss_growth'] * 100:+.1f}%)")
    if "audited_200" in row:
        return f"answered 200: {row['answered_200']}, audited: {row['audited_200']}, statuses {row['statuses']}"
    if "during" in row:
        during = row["during"]
        return (f"during the {during['outage_s']} s outage: statuses {during['statuses']}, "
                f"{during['socket_errors']} socket errors; after: statuses {row['after']['statuses']}")
    return f"statuses {row['statuses']}"
