"""(d) Slow-client drill: N connections drip a hook body one byte every 2 s while /healthz and a hook call
are timed, next to a baseline with no drippers, in the same run (issue 10).

The service runs the production way (`python -m cds_service serve`, CDS_AUTH=on). Each dripper sends a
valid client JWT (the worst case: an anonymous one is refused before its body is read) and a Content-Length
it never completes; when the server ends it (408 at the body deadline) it reconnects at once, as an
attacker would. Loopback only, at most 60 connections, bounded in time.

    python -m bench --slow-only [--drippers 12]
    python -m bench.slow_clients [--drippers N] [--seconds S] [--server serve|gthread|gevent|waitress]

`--server` compares candidates: the old gthread configuration, plain gunicorn+gevent, or waitress (only if
installed by hand; it is not a dependency).
"""
from __future__ import annotations

import json
import os
import socket
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

import requests

from cds_service.cdshooks.discovery import ORDER_SIGN
from cds_service.dev.fhir_server import free_loopback_port, stop_process

from .records import DATE_OF_SERVICE, demo_record
from .stats import percentile
from .tokens import ClientKey

REPO = Path(__file__).resolve().parent.parent
MAX_DRIPPERS = 60
DRIP_INTERVAL_S = 2.0
CALL_TIMEOUT_S = 10.0
# What a server other than the product's is started as, to compare candidates (`--server`).
SERVERS = {
    "serve": [sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", "{port}"],
    "gthread": [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"),
                "--worker-class", "gthread", "--threads", "4", "-b", "127.0.0.1:{port}", "cds_service.wsgi:app"],
    "gevent": [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"),
               "--worker-class", "gevent", "-b", "127.0.0.1:{port}", "cds_service.wsgi:app"],
    "waitress": [sys.executable, "-m", "waitress", "--listen=127.0.0.1:{port}", "--threads=8",
                 "cds_service.wsgi:app"],
}


@dataclass(frozen=True)
class Probe:
    """One timed endpoint during one phase: latencies of the answered calls, and the calls not answered."""

    phase: str
    endpoint: str
    samples_ms: tuple[float, ...]
    failures: int

    def as_json(self) -> dict[str, Any]:
        return {"phase": self.phase, "endpoint": self.endpoint, "answered": len(self.samples_ms),
                "not_answered": self.failures, **self._quantiles()}

    def _quantiles(self) -> dict[str, float | None]:
        if not self.samples_ms:
            return {"p50_ms": None, "p99_ms": None, "max_ms": None}
        ordered = self.samples_ms
        return {"p50_ms": round(percentile(ordered, 50), 1), "p99_ms": round(percentile(ordered, 99), 1),
                "max_ms": round(max(self.samples_ms), 1)}


class Drippers:
    """N sockets, each sending a hook call's headers, then one body byte every `interval` seconds."""

    def __init__(self, base_url: str, path: str, bearer: Callable[[str], str], count: int,
                 interval: float = DRIP_INTERVAL_S) -> None:
        self.host, port = base_url.removeprefix("http://").split(":")
        self.port = int(port)
        self.path, self.url, self.bearer = path, base_url + path, bearer
        self.count, self.interval = min(count, MAX_DRIPPERS), interval
        self.ended_by_server = 0  # connections the server closed or answered before the body was complete
        self.statuses: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drippers", daemon=True)

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=5)
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: {self.bearer(self.url)}\r\nContent-Type: application/json\r\n"
                f"Content-Length: 100000\r\n\r\n")
        sock.sendall(head.encode())
        sock.setblocking(False)
        return sock

    def _ended(self, sock: socket.socket) -> bool:
        """The server answered (408, 413, …) or closed this connection."""
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return True

    def _run(self) -> None:
        socks = [self._connect() for _ in range(self.count)]
        try:
            while not self._stop.wait(self.interval):
                for i, sock in enumerate(socks):
                    try:
                        ended = self._ended(sock)
                        if not ended:
                            sock.send(b" ")
                    except OSError:
                        ended = True
                    if ended:
                        self.ended_by_server += 1
                        sock.close()
                        socks[i] = self._connect()
        finally:
            for sock in socks:
                sock.close()

    def __enter__(self) -> Drippers:
        self._thread.start()
        time.sleep(0.5)  # every dripper connected and its headers sent before timing starts
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 10)


def _time_phase(phase: str, calls: dict[str, Callable[[], requests.Response]], seconds: float) -> list[Probe]:
    samples: dict[str, list[float]] = {name: [] for name in calls}
    failures = dict.fromkeys(calls, 0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, call in calls.items():
            started = time.perf_counter()
            try:
                ok = call().status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                samples[name].append((time.perf_counter() - started) * 1000)
            else:
                failures[name] += 1
        time.sleep(0.05)
    return [Probe(phase, name, tuple(samples[name]), failures[name]) for name in calls]


@contextmanager
def _service(directory: Path, key: ClientKey, server: str) -> Iterator[str]:
    port = free_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    clients_file = directory / "clients.json"
    clients_file.write_text(json.dumps(key.clients_file([])))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_", "PROMETHEUS_"))}
    env = {**inherited, "CDS_AUTH": "on", "CDS_CLIENTS_FILE": str(clients_file), "CDS_PUBLIC_BASE_URL": base_url,
           "CDS_DATABASE_URL": f"sqlite:///{directory / 'cds.sqlite3'}", "CDS_POLICY_DATE": DATE_OF_SERVICE.isoformat(),
           "GUNICORN_WORKERS": "2"}
    command = [part.format(port=port) for part in SERVERS[server]]
    log_path = directory / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(f"{base_url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"service did not start: {log_path.read_text()[-2000:]}")
        yield base_url
    finally:
        stop_process(process)


def run(drippers: int = 12, seconds: float = 20.0, server: str = "serve") -> dict[str, Any]:
    """Baseline (no drippers) then the drill, each `seconds` long; returns the probes and the setup."""
    key = ClientKey()
    record = demo_record()
    path = f"/cds-services/{ORDER_SIGN.id}"
    body = {"hook": "order-sign", "hookInstance": "", "prefetch": record.prefetch(),
            "context": {"userId": "Practitioner/bench", "patientId": record.patient_id,
                        "draftOrders": record.draft_orders}}
    with tempfile.TemporaryDirectory(prefix="facet-cds-slow-") as scratch, \
            _service(Path(scratch), key, server) as base_url:
        fresh = requests.Session  # a new connection per call: as a new EHR session would arrive

        def healthz() -> requests.Response:
            with fresh() as s:
                return s.get(f"{base_url}/healthz", timeout=CALL_TIMEOUT_S)

        def hook() -> requests.Response:
            body["hookInstance"] = str(uuid.uuid4())
            with fresh() as s:
                return s.post(base_url + path, data=json.dumps(body), timeout=CALL_TIMEOUT_S,
                              headers={"Authorization": key.bearer(base_url + path),
                                       "Content-Type": "application/json"})

        calls = {"GET /healthz": healthz, "POST order-sign": hook}
        probes = _time_phase("no drippers", calls, seconds)
        with Drippers(base_url, path, key.bearer, drippers) as drill:
            probes += _time_phase(f"{drill.count} drippers", calls, seconds)
    return {"server": server, "drippers": drill.count, "drip_interval_s": DRIP_INTERVAL_S,
            "seconds_per_phase": seconds, "call_timeout_s": CALL_TIMEOUT_S,
            "dripper_connections_ended_by_server": drill.ended_by_server, "dripper_endings": drill.statuses,
            "probes": [p.as_json() for p in probes]}


def table(result: dict[str, Any]) -> str:
    lines = [f"Slow-client drill ({result['server']}): {result['drippers']} connections dripping a hook body "
             f"1 byte / {result['drip_interval_s']:g} s, {result['seconds_per_phase']:g} s per phase, "
             f"calls time out at {result['call_timeout_s']:g} s",
             f"{'phase':<14} {'endpoint':<16} {'answered':>8} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for p in result["probes"]:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        lines.append(f"{p['phase']:<14} {p['endpoint']:<16} {p['answered']:>8} {p['not_answered']:>6} "
                     f"{ms(p['p50_ms']):>8} {ms(p['p99_ms']):>8} {ms(p['max_ms']):>8}")
    lines.append(f"dripper connections ended by the server: {result['dripper_connections_ended_by_server']} "
                 f"{result['dripper_endings']}")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients")
    parser.add_argument("--drippers", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--server", choices=sorted(SERVERS), default="serve")
    args = parser.parse_args()
    print(table(run(args.drippers, args.seconds, args.server)))
