"""The body deadline is a total over all reads (cds_service/server/body_deadline.py), on a real socket pair."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from cds_service.api.errors import answer_for
from cds_service.server.body_deadline import BodyDeadline, BodyDeadlineExceeded, DeadlineInput, body_timeout_seconds


def _drip(sock: socket.socket, stop: threading.Event, every: float) -> threading.Thread:
    def run() -> None:
        while not stop.wait(every):
            try:
                sock.send(b"x")
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_dripped_body_ends_at_the_deadline_though_every_read_is_quick() -> None:
    server, client = socket.socketpair()
    stop = threading.Event()
    dripping = _drip(client, stop, 0.05)
    try:
        body = DeadlineInput(server.makefile("rb"), server, time.monotonic() + 0.5, 0.5)
        with pytest.raises(BodyDeadlineExceeded) as refused:
            body.read(10_000)  # one read call that would need 500 s of dripping
        assert answer_for(refused.value).status == 408 and "did not arrive within 0.5 s" in str(refused.value)
        with pytest.raises(BodyDeadlineExceeded):  # and stays refused
            body.read(1)
    finally:
        stop.set()
        dripping.join(timeout=2)
        server.close()
        client.close()


def test_a_body_that_is_all_there_is_read_whole() -> None:
    server, client = socket.socketpair()
    try:
        client.sendall(b'{"hook": "order-sign"}')
        body = DeadlineInput(server.makefile("rb"), server, time.monotonic() + 5, 5)
        assert body.read(22) == b'{"hook": "order-sign"}'
    finally:
        server.close()
        client.close()


def test_a_body_read_in_many_pieces_is_one_deadline_and_a_complete_body_keeps_its_connection() -> None:
    server, client = socket.socketpair()
    try:
        client.sendall(b"x" * 100_000)
        body = DeadlineInput(server.makefile("rb", buffering=0), server, time.monotonic() + 0.3, 0.3, length=100_000)
        before = threading.active_count()
        received = 0
        while received < 100_000:
            received += len(body.read(1024))
            assert threading.active_count() <= before + 1  # one timer, not one per read
        time.sleep(0.5)  # past the deadline: the connection may carry the next request, it must stay open
        client.sendall(b"next")
        assert server.recv(4) == b"next"
    finally:
        server.close()
        client.close()


def test_a_request_that_ends_before_its_body_is_read_disarms_the_deadline() -> None:
    server, client = socket.socketpair()

    def app(environ, start_response):
        environ["wsgi.input"].read(3)  # an early refusal reads part of the body, then answers
        return [b"refused"]

    try:
        client.sendall(b"abcdef")
        environ = {"CONTENT_LENGTH": "6", "wsgi.input": server.makefile("rb", buffering=0), "gunicorn.socket": server}
        BodyDeadline(app, 0.2)(environ, lambda *a: None)
        time.sleep(0.4)
        server.settimeout(2)
        assert server.recv(3) == b"def"  # the read side was not shut by a left-over timer
    finally:
        server.close()
        client.close()


def test_only_requests_with_a_body_are_wrapped() -> None:
    seen: dict[str, object] = {}

    def app(environ, start_response):
        seen["input"] = environ["wsgi.input"]
        return []

    original = object()
    BodyDeadline(app, 5)({"CONTENT_LENGTH": "", "wsgi.input": original}, lambda *a: None)
    assert seen["input"] is original
    BodyDeadline(app, 5)({"CONTENT_LENGTH": "12", "wsgi.input": original}, lambda *a: None)
    assert isinstance(seen["input"], DeadlineInput)


@pytest.mark.parametrize("raw, seconds", [("", 10.0), ("2.5", 2.5), ("300", 300.0)])
def test_body_timeout_setting(raw: str, seconds: float) -> None:
    assert body_timeout_seconds({"CDS_BODY_TIMEOUT_S": raw}) == seconds


@pytest.mark.parametrize("raw", ["0", "-1", "301", "ten", "nan"])
def test_body_timeout_setting_refuses_nonsense(raw: str) -> None:
    with pytest.raises(ValueError, match="CDS_BODY_TIMEOUT_S"):
        body_timeout_seconds({"CDS_BODY_TIMEOUT_S": raw})


def _gunicorn_body(payload: bytes, length: int) -> tuple[object, socket.socket, socket.socket]:
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import SocketUnreader

    server, client = socket.socketpair()
    threading.Thread(target=client.sendall, args=(payload,), daemon=True).start()
    return Body(LengthReader(SocketUnreader(server), length)), server, client


@pytest.mark.parametrize("sizes", [[-1], [65_536] * 12, [1, 99_999, 700_000], [300_000, 300_000, 300_000]])
def test_a_gunicorn_body_gives_every_byte_once_however_it_is_read(sizes: list[int]) -> None:
    payload = bytes(range(256)) * 2_200 + b"tail"  # 563,204 bytes: no two 1 kB pieces alike at a shift
    stream, server, client = _gunicorn_body(payload + b"NEXT REQUEST", len(payload))
    try:
        body = DeadlineInput(stream, server, time.monotonic() + 5, 5, length=len(payload))
        read = b"".join(body.read(size) for size in sizes)
        assert read == payload  # nothing skipped, repeated or read past Content-Length
        assert body.read(10) == b""
        after = b""
        while len(after) < len(b"NEXT REQUEST"):  # what follows the body is left for the next request
            after += stream.reader.unreader.read()
        assert after == b"NEXT REQUEST"
    finally:
        server.close()
        client.close()


def test_a_gunicorn_body_read_partly_through_gunicorn_first_is_still_whole() -> None:
    payload = b"line one\n" + b"y" * 200_000
    stream, server, client = _gunicorn_body(payload, len(payload))
    try:
        body = DeadlineInput(stream, server, time.monotonic() + 5, 5, length=len(payload))
        first = body.readline()  # fills gunicorn's own buffer: reads must now go through it
        assert first == b"line one\n"
        assert first + body.read() == payload
    finally:
        server.close()
        client.close()


def test_a_slow_gunicorn_body_still_ends_at_the_deadline() -> None:
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import SocketUnreader

    server, client = socket.socketpair()
    stop = threading.Event()
    dripping = _drip(client, stop, 0.05)
    try:
        stream = Body(LengthReader(SocketUnreader(server), 10_000))
        body = DeadlineInput(stream, server, time.monotonic() + 0.5, 0.5, length=10_000)
        with pytest.raises(BodyDeadlineExceeded):
            body.read()
    finally:
        stop.set()
        dripping.join(timeout=2)
        server.close()
        client.close()
