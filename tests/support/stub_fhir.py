"""A small stub FHIR server on loopback for tests: canned searchsets plus injectable faults.

    with StubFhirServer() as fhir:
        fhir.add(patient, condition)                      # served by GET /fhir/{type} and /fhir/{type}/{id}
        fhir.inject("Condition", Fault.status(500))       # every request whose path starts /fhir/Condition
        client = FhirClient(fhir.base_url, "token", ...)
        ...
        assert fhir.requests[0].headers["Authorization"] == "Bearer token"

Searches ignore every search parameter except `_count`/`_offset` paging, like a server that does not
support them: the code under test must filter by patient itself. Faults end by themselves (delays are
bounded and stop with the server), and the server binds 127.0.0.1 on a free port.
"""
from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FHIR_JSON = "application/fhir+json"
_STREAM_CHUNK = b" " * (256 * 1024)


@dataclass(frozen=True)
class Fault:
    """A misbehaviour for the requests of one path prefix; build it with the class methods."""

    kind: str
    seconds: float = 0.0
    status_code: int = 0
    size_bytes: int = 0
    url: str = ""
    for_seconds: float = 0.0

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, but only after `seconds` (cut short when the server stops)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def status(cls, status_code: int) -> Fault:
        """Answer `status_code` with an OperationOutcome body."""
        return cls("status", status_code=status_code)

    @classmethod
    def invalid_json(cls) -> Fault:
        """Answer 200 with a body that is not JSON."""
        return cls("invalid-json")

    @classmethod
    def not_a_bundle(cls) -> Fault:
        """Answer 200 with an OperationOutcome where a Bundle is expected."""
        return cls("not-a-bundle")

    @classmethod
    def endless_paging(cls) -> Fault:
        """Every page links to a new next page, forever."""
        return cls("endless-paging")

    @classmethod
    def repeated_next(cls) -> Fault:
        """The page's next link is the page itself."""
        return cls("repeated-next")

    @classmethod
    def next_link(cls, url: str) -> Fault:
        """A one-entry searchset whose next link is `url` (e.g. another host)."""
        return cls("next-link", url=url)

    @classmethod
    def huge_body(cls, size_bytes: int, *, declare_length: bool = False) -> Fault:
        """Stream `size_bytes` of JSON-ish filler, chunked unless `declare_length` sends Content-Length."""
        return cls("huge-body-declared" if declare_length else "huge-body", size_bytes=size_bytes)

    @classmethod
    def drip(cls, seconds_per_byte: float, *, headers_too: bool = True, for_seconds: float = 15.0) -> Fault:
        """Answer a valid searchset one byte every `seconds_per_byte`: the status line and headers too, or
        (`headers_too=False`) headers at once and only the body dripped. Every read gets a byte well within
        any read timeout, so only an absolute deadline ends it; `StubFhirServer.open_drips` counts the
        answers still dripping (ended when the client hangs up, the server stops, or after `for_seconds`, so a
        client without a deadline shows up as a slow failure rather than a hung test)."""
        return cls("drip" if headers_too else "drip-body", seconds=seconds_per_byte, for_seconds=for_seconds)

    @classmethod
    def redirect(cls, url: str) -> Fault:
        """Answer 302 to `url`."""
        return cls("redirect", url=url)


@dataclass(frozen=True)
class SeenRequest:
    """One request as the stub saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class _State:
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # type -> id -> resource
    faults: dict[str, Fault] = field(default_factory=dict)  # path prefix after the base -> fault
    requests: list[SeenRequest] = field(default_factory=list)
    connections: int = 0
    open_drips: int = 0
    most_open_drips: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class StubFhirServer:
    """A FHIR server stub at `base_url` (`http://127.0.0.1:{port}{base_path}`); use it as a context manager.

    :param page_size: default page size of searchsets (`_count` overrides it).
    """

    def __init__(self, base_path: str = "/fhir", page_size: int = 50) -> None:
        self.base_path = base_path.rstrip("/")
        self.page_size = page_size
        self._state = _State()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        # a short poll interval makes stop() quick (serve_forever checks for shutdown that often)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="stub-fhir", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    @property
    def requests(self) -> list[SeenRequest]:
        """Every request seen so far, in order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (also those that never sent a request)."""
        with self._state.lock:
            return self._state.connections

    @property
    def open_drips(self) -> int:
        """Answers of a `Fault.drip` still being sent (the client has not hung up)."""
        with self._state.lock:
            return self._state.open_drips

    @property
    def most_open_drips(self) -> int:
        """The most `Fault.drip` answers that were being sent at the same time."""
        with self._state.lock:
            return self._state.most_open_drips

    def add(self, *resources: dict[str, Any]) -> None:
        """Serve these resources (replacing any with the same type and id)."""
        with self._state.lock:
            for resource in resources:
                by_id = self._state.resources.setdefault(resource["resourceType"], {})
                by_id[resource["id"]] = resource

    def inject(self, path_prefix: str, fault: Fault) -> None:
        """Misbehave on every request whose path, after the base path, starts with `path_prefix`."""
        with self._state.lock:
            self._state.faults[path_prefix.lstrip("/")] = fault

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()

    def start(self) -> StubFhirServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stopping.set()  # ends delays and streams still running
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StubFhirServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def unused_loopback_url(path: str = "/fhir") -> str:
    """A loopback URL where nothing listens (connections are refused): a FHIR server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # the default backlog of 5 drops the SYNs of parallel fetches, which retry only after 1 s
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], stub: StubFhirServer) -> None:
        self.stub = stub
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.stub._state.lock:
            self.stub._state.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # clients hanging up mid-answer is what the fault tests provoke; anything else is a stub bug
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # else every keep-alive answer waits ~40 ms for the delayed ACK
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        stub = self.server.stub
        parts = urlsplit(self.path)
        seen = SeenRequest("GET", parts.path, parse_qs(parts.query), dict(self.headers.items()))
        with stub._state.lock:
            stub._state.requests.append(seen)
        if not parts.path.startswith(f"{stub.base_path}/"):
            return self._send_json(404, _outcome("not-found", "outside the FHIR base"))
        relative = parts.path[len(stub.base_path) + 1 :]
        fault = self._fault_for(relative)
        if fault is not None and fault.kind == "delay":
            if stub._state.stopping.wait(fault.seconds):
                return None
            fault = None
        if fault is not None:
            return self._misbehave(fault, relative, seen.query)
        return self._answer(relative, seen.query)

    def _fault_for(self, relative: str) -> Fault | None:
        state = self.server.stub._state
        with state.lock:
            matches = [prefix for prefix in state.faults if relative.startswith(prefix)]
            return state.faults[max(matches, key=len)] if matches else None

    def _answer(self, relative: str, query: dict[str, list[str]]) -> None:
        stub = self.server.stub
        segments = relative.split("/")
        with stub._state.lock:
            by_id = dict(stub._state.resources.get(segments[0], {}))
        if len(segments) == 2:
            resource = by_id.get(segments[1])
            if resource is None:
                return self._send_json(404, _outcome("not-found", f"{relative} not found"))
            return self._send_json(200, resource)
        if len(segments) != 1:
            return self._send_json(400, _outcome("not-supported", "unsupported path"))
        count = int(query.get("_count", [stub.page_size])[0])
        offset = int(query.get("_offset", ["0"])[0])
        matches = list(by_id.values())
        next_url = None
        if offset + count < len(matches):
            next_url = f"{stub.base_url}/{segments[0]}?_count={count}&_offset={offset + count}"
        return self._send_json(200, _searchset(matches[offset : offset + count], next_url, total=len(matches)))

    def _misbehave(self, fault: Fault, relative: str, query: dict[str, list[str]]) -> None:
        stub = self.server.stub
        if fault.kind == "status":
            return self._send_json(fault.status_code, _outcome("exception", f"injected HTTP {fault.status_code}"))
        if fault.kind == "invalid-json":
            return self._send_bytes(200, b'{"resourceType": "Bundle", "entry": [', FHIR_JSON)
        if fault.kind == "not-a-bundle":
            return self._send_json(200, _outcome("informational", "not a Bundle"))
        if fault.kind == "redirect":
            self.send_response(302)
            self.send_header("Location", fault.url)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if fault.kind in ("drip", "drip-body"):
            return self._drip(fault.seconds, fault.for_seconds, headers_too=fault.kind == "drip")
        if fault.kind in ("huge-body", "huge-body-declared"):
            return self._stream_filler(fault.size_bytes, declare_length=fault.kind == "huge-body-declared")
        page = int(query.get("_page", ["1"])[0])
        here = f"{stub.base_url}/{relative}?_page={page}"
        next_url = {
            "endless-paging": f"{stub.base_url}/{relative}?_page={page + 1}",
            "repeated-next": here,
            "next-link": fault.url,
        }[fault.kind]
        filler = {"resourceType": "Basic", "id": f"page-{page}", "code": {"text": "filler"}}
        return self._send_json(200, _searchset([filler], next_url, total=None))

    def _stream_filler(self, size_bytes: int, *, declare_length: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", FHIR_JSON)
        if declare_length:
            self.send_header("Content-Length", str(size_bytes))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            while sent < size_bytes and not self.server.stub._state.stopping.is_set():
                chunk = _STREAM_CHUNK[: size_bytes - sent]
                self.wfile.write(chunk if declare_length else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if not declare_length:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should
        self.close_connection = True

    def _drip(self, seconds_per_byte: float, for_seconds: float, *, headers_too: bool) -> None:
        state = self.server.stub._state
        body = json.dumps(_searchset([], None, total=0)).encode() + b" " * 4096  # ~35 min at 0.5 s/byte
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: {FHIR_JSON}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.close_connection = True
        with state.lock:
            state.open_drips += 1
            state.most_open_drips = max(state.most_open_drips, state.open_drips)
        try:
            if not headers_too:
                self.wfile.write(head)
            give_up = time.monotonic() + for_seconds
            for byte in (head + body if headers_too else body):
                # wait for the next byte's turn, but notice at once when the client hangs up (EOF)
                readable, _, _ = select.select([self.connection], [], [], seconds_per_byte)
                if readable and not self.connection.recv(4096):  # EOF; anything else sent is ignored
                    return
                if state.stopping.is_set() or time.monotonic() > give_up:
                    return
                if not readable:
                    self.wfile.write(bytes([byte]))
        except OSError:
            pass  # the client hung up: what a deadline should make it do
        finally:
            with state.lock:
                state.open_drips -= 1

    def _send_json(self, status: int, document: dict[str, Any]) -> None:
        self._send_bytes(status, json.dumps(document).encode(), FHIR_JSON)

    def _send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _searchset(resources: list[dict[str, Any]], next_url: str | None, *, total: int | None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "next", "url": next_url}] if next_url else [],
        "entry": [{"resource": resource, "search": {"mode": "match"}} for resource in resources],
    }
    if total is not None:
        bundle["total"] = total
    return bundle


def _outcome(code: str, text: str) -> dict[str, Any]:
    severity = "information" if code == "informational" else "error"
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": text}]}

