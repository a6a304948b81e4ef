"""Request bodies are read under an absolute deadline: CDS_BODY_TIMEOUT_S from the moment the headers are in.

Why not a socket timeout: it restarts on every read, so a client sending one byte a second never reaches it.
Here a timer shuts the read side of the connection when the deadline passes; the read blocked on it returns
at once, and the call is answered 408 (an OperationOutcome, via the app's error table), never a 5xx.
Shutting the read side also ends the connection after that answer, so the rest of the body is never waited
for. Under gevent workers the timer is a greenlet, so this costs no thread.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cds_service.errors import RequestTimeout

BODY_TIMEOUT_ENV = "CDS_BODY_TIMEOUT_S"
DEFAULT_BODY_TIMEOUT_S = 10.0  # 1 MiB (the default body limit) arrives in ~8 s even at 1 Mbit/s
MAX_BODY_TIMEOUT_S = 300.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def body_timeout_seconds(env: Mapping[str, str] = os.environ) -> float:
    """CDS_BODY_TIMEOUT_S: more than 0, at most 300; anything else refuses to start."""
    raw = env.get(BODY_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_BODY_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{BODY_TIMEOUT_ENV} must be a number of seconds, not {raw!r}") from None
    if not 0 < seconds <= MAX_BODY_TIMEOUT_S:
        raise ValueError(f"{BODY_TIMEOUT_ENV} must be more than 0 and at most {MAX_BODY_TIMEOUT_S:g}, not {raw}")
    return seconds


class BodyDeadlineExceeded(RequestTimeout):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s")


class DeadlineInput:
    """`wsgi.input` whose reads, all together, end at `deadline` (time.monotonic())."""

    def __init__(self, stream: Any, connection: socket.socket | None, deadline: float, seconds: float) -> None:
        self._stream = stream
        self._connection = connection
        self._deadline = deadline
        self._seconds = seconds
        self._cut = False

    def _cut_connection(self) -> None:
        self._cut = True
        if self._connection is not None:
            try:
                self._connection.shutdown(socket.SHUT_RD)
            except OSError:
                pass  # already closed by the client

    def _guarded(self, read: Callable[[], bytes], wanted: int | None) -> bytes:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or self._cut:
            self._cut_connection()
            raise BodyDeadlineExceeded(self._seconds)
        timer = threading.Timer(remaining, self._cut_connection)
        timer.daemon = True
        timer.start()
        try:
            data = read()
        except OSError:
            if self._cut or time.monotonic() >= self._deadline:
                raise BodyDeadlineExceeded(self._seconds) from None
            raise
        finally:
            timer.cancel()
        short = wanted is not None and wanted > 0 and len(data) < wanted
        if (self._cut or time.monotonic() >= self._deadline) and (short or not data):
            self._cut_connection()
            raise BodyDeadlineExceeded(self._seconds)
        return data

    def read(self, size: int = -1) -> bytes:
        return self._guarded(lambda: self._stream.read(size) if size >= 0 else self._stream.read(),
                             size if size >= 0 else None)

    def readline(self, size: int = -1) -> bytes:
        return self._guarded(lambda: self._stream.readline(size), None)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        while line := self.readline():
            lines.append(line)
        return lines

    def __iter__(self) -> DeadlineInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class BodyDeadline:
    """WSGI middleware: every request that has a body reads it under one absolute deadline."""

    def __init__(self, app: WsgiApp, seconds: float | None = None) -> None:
        self.app = app
        self.seconds = body_timeout_seconds() if seconds is None else seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _has_body(environ):
            connection = environ.get("gunicorn.socket")
            environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], connection if isinstance(
                connection, socket.socket) else None, time.monotonic() + self.seconds, self.seconds)
        return self.app(environ, start_response)


def _has_body(environ: Mapping[str, Any]) -> bool:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    try:
        return int(environ.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False  # the server refuses a bad Content-Length before we are called
