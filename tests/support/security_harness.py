"""What the HTTP-level security suites share: a service process trusting several CDS clients, loopback
listeners that must stay untouched, hook bodies that make the service fetch, and the checks on answers.

Everything listens on 127.0.0.1 (or ::1) on free ports; nothing here sends traffic anywhere else.
"""
from __future__ import annotations

import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_service.policy.conventions import COVERAGE_INFORMATION_URL
from tests.support.hook_bodies import hook_body
from tests.support.jwt_factory import KeyPair
from tests.support.scenarios import scenario
from tests.support.service_process import ServiceProcess, start_service

REPO = Path(__file__).resolve().parents[2]
SIGN_ID = "facet-order-sign"
SIGN_PATH = f"/cds-services/{SIGN_ID}"
# A lumbar block order that names Coverage/s01-coverage in `insurance`: every answer carries coverage-information.
SCENARIO_ID = "dx-first-lumbar-covered"
FHIR_TOKEN = "security-suite-fhir-token-7d1e40"
LOOPBACK_ONLY = {"NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}


# ------------------------------------------------------------------------------------------- the service


def start_service_trusting(
    tmp: Path, clients: list[dict[str, Any]], *, key: KeyPair, iss: str, extra_env: dict[str, str] | None = None
) -> ServiceProcess:
    """The service process trusting several clients; `key`/`iss` are the one `ServiceProcess.hook()` signs for."""
    return start_service(tmp, clients=clients, key=key, iss=iss, extra_env={**LOOPBACK_ONLY, **(extra_env or {})})


# ------------------------------------------------------------------------------------------- hook bodies


def fetching_body(fhir_server: str, *, hook: str = "order-sign", token: str = FHIR_TOKEN) -> dict[str, Any]:
    """A valid hook body without prefetch, so answering it means fetching from `fhir_server`.

    The patient id is new on every call: the service's per-patient record cache can never answer in place
    of the FHIR server, so a call the service accepts always shows up in that server's request log.
    """
    body = hook_body(scenario(SCENARIO_ID), hook, fhir_server=fhir_server, token=token, prefetch=False)
    body["context"]["patientId"] = f"pat-{uuid.uuid4()}"
    return body


def prefetched_body(hook: str = "order-sign") -> dict[str, Any]:
    """A valid hook body with every prefetch key filled: needs no FHIR server at all."""
    return hook_body(scenario(SCENARIO_ID), hook)


# ------------------------------------------------------------------------------------------- answers


def diagnostics(response: Any) -> str:
    """The OperationOutcome's `issue[0].diagnostics`, after checking the body is one and says something.

    `response` is a `requests` response or a Flask test-client one.
    """
    body = response.get_json() if hasattr(response, "get_json") else response.json()
    assert body["resourceType"] == "OperationOutcome", body
    text = body["issue"][0]["diagnostics"]
    assert isinstance(text, str) and text.strip(), body
    return text


def coverage_information(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every coverage-information extension in `systemActions`, as {part url: value} (reasons as a list)."""
    found = []
    for action in body.get("systemActions", []):
        for extension in action.get("resource", {}).get("extension", []):
            if extension.get("url") != COVERAGE_INFORMATION_URL:
                continue
            parts: dict[str, Any] = {"reason": []}
            for part in extension["extension"]:
                value = next((v for k, v in part.items() if k.startswith("value")), None)
                if part["url"] == "reason":
                    parts["reason"].append(value)
                else:
                    parts[part["url"]] = value
            found.append(parts)
    return found


def assert_indeterminate_for_technical_reasons(body: dict[str, Any]) -> None:
    """Every in-scope order got coverage-information `indeterminate` with the CRD reason code `technical`."""
    coverages = coverage_information(body)
    assert coverages, "no coverage-information although the order names a Coverage"
    for parts in coverages:
        assert parts["covered"] == "indeterminate", parts
        codes = {coding.get("code") for reason in parts["reason"] for coding in reason.get("coding", [])}
        assert "technical" in codes, parts


# ------------------------------------------------------------------------------------------- listeners


class Listener:
    """A loopback TCP port that is listened on but never served: an internal endpoint the service must not reach.

    No thread accepts connections: the kernel completes any handshake into the backlog, so a connection the
    service made before answering is already queued when `connections` drains the backlog (no sleeps, no races).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self._sock.setblocking(False)
        self.port: int = self._sock.getsockname()[1]
        self._connections = 0

    @property
    def authority(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections made so far (each is accepted and closed when counted)."""
        while True:
            try:
                connection, _ = self._sock.accept()
            except BlockingIOError:
                return self._connections
            connection.close()
            self._connections += 1

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Tripwire:
    """Stands in for the network layer: every attempt to resolve, connect or send is recorded and fails.

    For addresses that must never receive test traffic (cloud metadata, private ranges): the service runs
    in-process with this installed, and a test asserts `attempts == []`.
    """

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def take(self) -> list[str]:
        """The attempts recorded so far, forgetting them (for checks repeated against one tripwire)."""
        taken, self.attempts = self.attempts, []
        return taken

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: object) -> None:
            self.attempts.append(f"HTTP {request.method} {request.url}")
            raise requests.ConnectionError("network disabled by the test")

        def blocked(what: str):
            def refuse(*args: object, **kwargs: object) -> None:
                self.attempts.append(f"{what} {args!r}")
                raise OSError(f"{what}: network disabled by the test")
            return refuse

        monkeypatch.setattr(requests.Session, "send", send)
        monkeypatch.setattr(socket, "getaddrinfo", blocked("getaddrinfo"))
        monkeypatch.setattr(socket, "create_connection", blocked("create_connection"))
        monkeypatch.setattr(socket.socket, "connect", blocked("connect"))
        monkeypatch.setattr(socket.socket, "connect_ex", blocked("connect_ex"))
