"""The image takes its port from configuration (PORT, build arg and environment), the healthcheck too.

Docker itself cannot run here; the Dockerfile's own HEALTHCHECK command is run against a listener on a port that
is not 8090, with PORT naming it, as the container would run it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from cds_service.__main__ import build_parser

DOCKERFILE = (Path(__file__).resolve().parents[3] / "deploy" / "Dockerfile").read_text()


class _Healthz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def healthcheck_command() -> list[str]:
    match = re.search(r"HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])", DOCKERFILE)
    assert match, "no exec-form HEALTHCHECK found"
    return json.loads(match[1])


def test_no_port_is_hard_coded_outside_the_build_arg() -> None:
    instructions = [line for line in DOCKERFILE.splitlines() if line and not line.lstrip().startswith("#")]
    assert [line for line in instructions if "8090" in line] == ["ARG PORT=8090"]
    assert "EXPOSE ${PORT}" in instructions and any("ENV PORT=${PORT}" in line for line in instructions)
    cmd = json.loads(next(line for line in instructions if line.startswith("CMD "))[4:])
    assert "--port" not in cmd  # serve takes its port from $PORT (test below)


def test_serve_takes_its_default_port_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    assert build_parser().parse_args(["serve"]).port == 9123
    assert build_parser().parse_args(["serve", "--port", "9000"]).port == 9000  # the flag still wins
    monkeypatch.delenv("PORT")
    assert build_parser().parse_args(["serve"]).port == 8090


def test_the_healthcheck_asks_the_configured_port() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        command = [sys.executable if part == "python" else part for part in healthcheck_command()]
        env = {**os.environ, "PORT": str(server.server_port)}
        assert subprocess.run(command, env=env, timeout=10, capture_output=True).returncode == 0
        server.shutdown()
        server.server_close()
        failing = subprocess.run(command, env=env, timeout=10, capture_output=True)
        assert failing.returncode != 0  # nothing listens any more: the container is reported unhealthy
    finally:
        server.server_close()
