"""A loopback JWKS host for tests: configurable routes on 127.0.0.1 (status, headers, delay, a dripping body),
recording every path asked for, so a test can tell how often keys were fetched."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JWKS_PATH = "/.well-known/jwks.json"


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay_s: float = 0.0
    drip_s: float = 0.0  # > 0: send the body one byte at a time, this long apart


class JwksServer:
    """Serves configurable routes on 127.0.0.1 and records every path requested."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        self.closing = threading.Event()  # ends dripping answers when the server closes
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.hits.append(self.path)
                route = server.routes.get(self.path, Route(status=404, body=b"{}"))
                time.sleep(route.delay_s)
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                try:
                    if route.drip_s:
                        for index in range(len(route.body)):
                            if server.closing.wait(route.drip_s):
                                return
                            self.wfile.write(route.body[index:index + 1])
                            self.wfile.flush()
                    else:
                        self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (size limit or timeout), as intended

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown() (once per test) from costing half a second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def url(self, path: str = JWKS_PATH) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def serve_json(self, document: object, path: str = JWKS_PATH) -> None:
        self.routes[path] = Route(body=json.dumps(document).encode())

    def fetches(self, path: str = JWKS_PATH) -> int:
        return self.hits.count(path)

    def close(self) -> None:
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
