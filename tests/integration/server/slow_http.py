"""Raw-socket HTTP clients that send a request's headers, then its body slowly or never (loopback only)."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def open_request(base_url: str, path: str, *, authorization: str | None, content_length: int = 100_000,
                 body_start: bytes = b"") -> socket.socket:
    """A POST whose headers are complete and whose body has only `body_start` of `content_length` bytes."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
            f"Content-Length: {content_length}"]
    if authorization:
        head.append(f"Authorization: {authorization}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body_start)
    return sock


def read_response(sock: socket.socket, timeout: float, check_close: bool = False) -> tuple[int, str, bool]:
    """(status, body, closed): the server's answer, and (`check_close`) whether it then closed the connection."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    closed = False
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            closed = True
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if sep and length is not None and len(body) >= length:
            if not check_close:
                break
            sock.settimeout(3)  # the whole answer is in: does the server close the connection now?
            try:
                closed = sock.recv(1) == b""
            except TimeoutError:
                closed = False
            break
    assert data.startswith(b"HTTP/1.1 "), f"no HTTP answer within {timeout} s: {data[:200]!r}"
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2].decode(errors="replace"), closed


@contextmanager
def dripping(sock: socket.socket, every_s: float) -> Iterator[None]:
    """Send one byte of body every `every_s` seconds while the block runs: each read is quick, only an
    absolute deadline ends the body."""
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(every_s):
            try:
                sock.send(b" ")
            except OSError:
                return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
