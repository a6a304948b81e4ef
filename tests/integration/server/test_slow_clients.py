"""Issue 10: slow clients cannot take the production server down, bodies have an absolute deadline, and
`python -m cds_service serve` is that production server (gunicorn, not Werkzeug's development server).

Over real HTTP on loopback, against the service started as `serve` (tests/support/service_process.py).
Bounded: at most 24 connections and about 15 s each; the only time bounds are generous "answered at all".
"""
from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import requests

from tests.integration.server.slow_http import open_request, read_response
from tests.support.hook_bodies import hook_body
from tests.support.scenarios import scenario
from tests.support.service_process import ServiceProcess

SIGN = "/cds-services/facet-order-sign"
DRIPPERS = 24  # six times the threads of the old gthread configuration for one worker (4)


def _outcome(text: str) -> str:
    body = json.loads(text)
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["diagnostics"]


def test_serve_runs_gunicorn_not_the_development_server(production: ServiceProcess) -> None:
    response = production.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Server"] == "gunicorn"  # Werkzeug's says "Werkzeug/3.x Python/3.11"
    # `serve` became the gunicorn master (same pid, so SIGTERM from an orchestrator reaches it) ...
    cmdline = Path(f"/proc/{production.process.pid}/cmdline").read_bytes().split(b"\0")
    assert b"gunicorn" in cmdline and b"python:cds_service.server.gunicorn_config" in cmdline
    # ... with the deploy configuration's async workers
    assert "Using worker: gevent" in production.log()


def test_healthz_and_a_hook_call_answer_while_many_clients_drip_their_bodies(production: ServiceProcess) -> None:
    drippers = [open_request(production.base_url, SIGN, authorization=f"Bearer {production.token(SIGN)}")
                for _ in range(DRIPPERS)]
    stop = threading.Event()

    def drip() -> None:  # one byte per connection per second, for as long as the test runs
        while not stop.wait(1.0):
            for sock in drippers:
                try:
                    sock.send(b" ")
                except OSError:
                    pass

    dripping = threading.Thread(target=drip, daemon=True)
    dripping.start()
    try:
        time.sleep(2)  # every dripper's headers are in and its body has started
        with requests.Session() as fresh:
            health = fresh.get(f"{production.base_url}/healthz", timeout=10)
        assert health.status_code == 200
        with requests.Session() as fresh:
            production.session = fresh  # a new connection, as a new EHR session would open
            call = production.hook("facet-order-sign", hook_body(scenario("dx-four-levels"), "order-sign"),
                                   timeout=15)
        assert call.status_code == 200 and call.json()["cards"]
        # and the drippers were all still connected and waiting: nothing was refused to make room
        for sock in drippers:
            sock.setblocking(False)
            try:
                assert sock.recv(1) != b""  # an answer or a close would be readable
                raise AssertionError("a dripping client was answered before its body was complete")
            except BlockingIOError:
                pass
    finally:
        stop.set()
        dripping.join(timeout=5)
        for sock in drippers:
            sock.close()
        production.session = requests.Session()


def test_an_unauthenticated_body_is_refused_before_it_is_read(production: ServiceProcess) -> None:
    # Headers only: no byte of the announced 100 kB body is ever sent, and the 401 comes anyway.
    sock = open_request(production.base_url, SIGN, authorization=None)
    try:
        status, body, _ = read_response(sock, timeout=10)
    finally:
        sock.close()
    assert status == 401 and "JWT" in _outcome(body)


def test_a_body_that_does_not_arrive_in_time_is_a_408_and_the_connection_ends(two_workers: ServiceProcess) -> None:
    service = two_workers
    # Dripping one byte every 0.5 s: each read is quick, only the total (the absolute deadline) ends it.
    sock = open_request(service.base_url, SIGN, authorization=f"Bearer {service.token(SIGN)}",
                        content_length=1000, body_start=b"{")
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(0.5):
            try:
                sock.send(b" ")
            except OSError:
                return

    dripping = threading.Thread(target=drip, daemon=True)
    dripping.start()
    try:
        status, body, closed = read_response(sock, timeout=15, check_close=True)
    finally:
        stop.set()
        dripping.join(timeout=5)
        sock.close()
    assert status == 408
    assert "did not arrive within 2 s" in _outcome(body)
    assert closed  # the rest of that body is never waited for
    # the same holds for feedback (a body that never starts), and the service is unharmed
    path = "/cds-services/facet-order-sign/feedback"
    sock = open_request(service.base_url, path, authorization=f"Bearer {service.token(path)}", content_length=50)
    try:
        status, body, _ = read_response(sock, timeout=15)
    finally:
        sock.close()
    assert status == 408 and "did not arrive" in _outcome(body)
    assert service.get("/healthz").status_code == 200
    log = service.log()
    assert "Traceback" not in log and '" 500 ' not in log


def test_a_complete_body_sent_in_pieces_within_the_deadline_is_answered(production: ServiceProcess) -> None:
    body = json.dumps(hook_body(scenario("dx-four-levels"), "order-sign")).encode()
    sock = open_request(production.base_url, SIGN, authorization=f"Bearer {production.token(SIGN)}",
                        content_length=len(body))
    try:
        for start in range(0, len(body), len(body) // 4 + 1):  # four pieces, a moment apart
            sock.sendall(body[start:start + len(body) // 4 + 1])
            time.sleep(0.2)
        status, answer, _ = read_response(sock, timeout=15)
    finally:
        sock.close()
    assert status == 200 and json.loads(answer)["cards"]


def test_metrics_add_up_over_the_workers(two_workers: ServiceProcess) -> None:
    production = two_workers
    def hook_calls() -> float:
        text = production.get("/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith('cds_hook_calls_total{') and 'status="200"' in line and "order-sign" in line)

    before = hook_calls()
    for _ in range(6):  # a new connection each: the kernel spreads them over both workers
        with requests.Session() as fresh:
            production.session = fresh
            assert production.hook("facet-order-sign", hook_body(scenario("dx-four-levels"), "order-sign")).ok
    production.session = requests.Session()
    assert hook_calls() - before == 6


def test_slow_headers_are_dropped_too(production: ServiceProcess) -> None:
    # The request line and headers have a deadline of their own (gunicorn's keepalive, 5 s, under gevent).
    host, port = production.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    try:
        sock.sendall(b"POST /cds-services/facet-order-sign HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + 20
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                sock.sendall(b"X-Slow: 1\r\n")
                sock.settimeout(1)
                closed = sock.recv(1) == b""
            except TimeoutError:
                pass
            except OSError:
                closed = True
        assert closed, "a client dripping its headers kept its connection for 20 s"
    finally:
        sock.close()
