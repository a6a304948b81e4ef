"""Request bodies are read under an absolute deadline: CDS_BODY_TIMEOUT_S from the moment the headers are in.

Why not a socket timeout: it restarts on every read, so a client sending one byte a second never reaches it.
Here a timer shuts the read side of the connection when the deadline passes; the read blocked on it returns
at once, and the call is answered 408 (an OperationOutcome, via the app's error table), never a 5xx.
Shutting the read side also ends the connection after that answer, so the rest of the body is never waited
for. Under gevent workers the timer is a greenlet, so this costs no thread.
"""
from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gunicorn.http.body import Body, LengthReader

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
    """`wsgi.input` whose reads, all together, end at `deadline` (time.monotonic()).

    One timer per request, armed by the first read and disarmed as soon as the body is complete (`length`
    bytes, or end of stream) or the request is over (`finish`). A timer per read cost a thread (gthread) or a
    greenlet start per 64 KB: werkzeug's get_data reads a 570 kB prefetch in 9 reads, +5 ms (issue 12).
    """

    def __init__(self, stream: Any, connection: socket.socket | None, deadline: float, seconds: float,
                 length: int | None = None) -> None:
        self._stream = stream
        self._connection = connection
        self._deadline = deadline
        self._seconds = seconds
        self._length = length  # Content-Length; None when chunked
        self._received = 0
        self._cut = False
        self._done = False  # body complete or request over: the deadline no longer applies
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def _cut_connection(self) -> None:
        self._cut = True
        if self._connection is not None:
            try:
                self._connection.shutdown(socket.SHUT_RD)
            except OSError:
                pass  # already closed by the client

    def _on_deadline(self) -> None:
        with self._lock:  # never cut a connection whose body is complete: it may carry the next request
            if not self._done:
                self._cut_connection()

    def finish(self) -> None:
        """The body is complete or the request is over: disarm the timer."""
        with self._lock:
            self._done = True
        if self._timer is not None:
            self._timer.cancel()

    def _guarded(self, read: Callable[[], bytes], wanted: int | None) -> bytes:
        if self._done:
            return read()
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or self._cut:
            self._cut_connection()
            raise BodyDeadlineExceeded(self._seconds)
        if self._timer is None:
            self._timer = threading.Timer(remaining, self._on_deadline)
            self._timer.daemon = True
            self._timer.start()
        try:
            data = read()
        except OSError:
            if self._cut or time.monotonic() >= self._deadline:
                raise BodyDeadlineExceeded(self._seconds) from None
            raise
        short = wanted is not None and wanted > 0 and len(data) < wanted
        if (self._cut or time.monotonic() >= self._deadline) and (short or not data):
            self._cut_connection()
            raise BodyDeadlineExceeded(self._seconds)
        self._received += len(data)
        if not data or (self._length is not None and self._received >= self._length):
            self.finish()
        return data

    def read(self, size: int = -1) -> bytes:
        direct = _length_reader(self._stream)
        if direct is not None:  # the same bytes, read in the socket's chunks rather than 1 kB at a time
            wanted = size if size >= 0 else direct.length
            return self._guarded(lambda: direct.read(wanted), wanted)
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


def _length_reader(stream: Any) -> LengthReader | None:
    """gunicorn's `Body.read` pulls from its reader 1 kB at a time, copying the rest of each 8 kB socket chunk
    back every time (a 570 kB prefetch: ~2.5 ms of a call; issue 12). Its LengthReader reads whole chunks.
    Only while the Body itself holds nothing buffered (nothing read through it yet), so no byte is skipped
    or repeated; a chunked body, or any other stream, is read through as it is."""
    if isinstance(stream, Body) and isinstance(stream.reader, LengthReader):
        buffered = stream.buf
        if isinstance(buffered, io.BytesIO) and buffered.tell() == 0:
            return stream.reader
    return None


class BodyDeadline:
    """WSGI middleware: every request that has a body reads it under one absolute deadline."""

    def __init__(self, app: WsgiApp, seconds: float | None = None) -> None:
        self.app = app
        self.seconds = body_timeout_seconds() if seconds is None else seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not _has_body(environ):
            return self.app(environ, start_response)
        connection = environ.get("gunicorn.socket")
        body = DeadlineInput(environ["wsgi.input"], connection if isinstance(connection, socket.socket) else None,
                             time.monotonic() + self.seconds, self.seconds, _content_length(environ))
        environ["wsgi.input"] = body
        try:
            return self.app(environ, start_response)  # Flask has read all it will read when this returns
        finally:
            body.finish()


def _has_body(environ: Mapping[str, Any]) -> bool:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    return (_content_length(environ) or 0) > 0


def _content_length(environ: Mapping[str, Any]) -> int | None:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None  # the server refuses a bad Content-Length before we are called
