"""`python -m cds_service demo` (`make run`): a local FHIR server with the fixture patients, and the service.

1. SEKMET on 127.0.0.1 (CDS_DEMO_FHIR_PORT, else 8096 or any free port), no auth, database under ./var/demo/,
   loaded with every scenario's record and draft ServiceRequests (deliberately malformed resources left out:
   a strict FHIR server refuses them, and the service's own handling of them is what the tests check).
2. The CDS service in this process on 127.0.0.1 (CDS_DEMO_PORT, else 8095 or any free port) with
   CDS_AUTH=off, CDS_DEV_FHIR_SERVERS = that FHIR server, CDS_POLICY_DATE = the fixtures' date of service.
3. A banner with the URLs to paste into the CDS Hooks sandbox and a curl per demo patient. Ctrl-C stops both.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote

from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.cdshooks.discovery import ORDER_SIGN
from cds_service.dev.fhir_server import (
    FhirServer,
    FhirServerError,
    free_loopback_port,
    start_fhir_server,
)
from cds_service.observability import plain_logs
from cds_service.settings import Settings, SettingsError

FIXTURES_DATE = "2026-11-20"  # the date of service of (almost) every fixture scenario
PREFERRED_SERVICE_PORTS = (8095, 8097, 8098)
PREFERRED_FHIR_PORTS = (8096, 8099)
SANDBOX = "https://sandbox.cds-hooks.org/"
MAX_LISTED_PATIENTS = 5


@dataclass(frozen=True)
class Scenario:
    """One file of fhir_fixtures/scenarios/: a patient's record, the draft orders of one session, and why."""

    id: str
    purpose: str
    patient_id: str
    demo: bool
    record: list[dict[str, Any]]
    draft_orders: dict[str, Any]
    malformed_ids: frozenset[str]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scenario:
        return cls(id=data["id"], purpose=data.get("purpose", ""), patient_id=data["patientId"],
                   demo=bool(data.get("demo")), record=_entries(data["record"]), draft_orders=data["draftOrders"],
                   malformed_ids=frozenset(data.get("malformedResourceIds", ())))

    @property
    def orders(self) -> list[dict[str, Any]]:
        return [r for r in _entries(self.draft_orders) if r.get("resourceType") == "ServiceRequest"]

    def loadable(self) -> tuple[list[dict[str, Any]], list[str]]:
        """(resources to store, ids of the deliberately malformed ones left out)."""
        keep: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        for resource in self.record + self.orders:
            (skipped if resource.get("id") in self.malformed_ids else keep).append(resource)
        return keep, [str(r.get("id")) for r in skipped]

    @property
    def patient_name(self) -> str:
        patient = next((r for r in self.record if r.get("resourceType") == "Patient"), {})
        name = (patient.get("name") or [{}])[0]
        return " ".join([*name.get("given", []), name.get("family", "")]).strip() or "(no name)"

    @property
    def user_id(self) -> str:
        """The ordering practitioner, for context.userId (required by order-sign)."""
        requester = next((o.get("requester", {}).get("reference") for o in self.orders if o.get("requester")), None)
        return requester or "Practitioner/demo-user"


def _entries(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if isinstance(e, dict) and "resource" in e]


def fixtures_directory() -> Path:
    """fhir_fixtures/scenarios of the checkout this package runs from, else of the working directory."""
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        candidate = root / "fhir_fixtures" / "scenarios"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("fhir_fixtures/scenarios not found: run the demo from the repository root")


def load_scenarios(directory: Path) -> list[Scenario]:
    return [
        Scenario.from_json(json.loads(path.read_text(encoding="utf-8"))) for path in sorted(directory.glob("*.json"))
    ]


def load_into(server: FhirServer, scenarios: list[Scenario]) -> tuple[int, list[str], list[str]]:
    """Store every scenario; returns (resources stored, malformed ids skipped, scenarios the server refused)."""
    stored, skipped, refused = 0, [], []
    for scenario in scenarios:
        resources, left_out = scenario.loadable()
        skipped += left_out
        try:
            stored += server.put_resources(resources)
        except FhirServerError as error:  # one bad scenario must not stop the demo
            refused.append(f"{scenario.id}: {error}")
    return stored, skipped, refused


def demo_patients(scenarios: list[Scenario]) -> list[Scenario]:
    chosen = [s for s in scenarios if s.demo]
    return chosen or scenarios[:MAX_LISTED_PATIENTS]


def sandbox_url(fhir_base: str, patient_id: str, discovery_url: str) -> str:
    return (f"{SANDBOX}?fhirServiceUrl={quote(fhir_base, safe='')}&patientId={quote(patient_id, safe='')}"
            f"&serviceDiscoveryURL={quote(discovery_url, safe='')}")


def order_sign_request(scenario: Scenario, fhir_base: str) -> dict[str, Any]:
    """An order-sign call without prefetch, so the service fetches the record from the FHIR server."""
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_base,
        "context": {"userId": scenario.user_id, "patientId": scenario.patient_id, "draftOrders": scenario.draft_orders},
    }


def write_requests(scenarios: list[Scenario], fhir_base: str, directory: Path) -> dict[str, Path]:
    """One order-sign body per patient, as a file for `curl --data @file` (the bodies are long)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for scenario in scenarios:
        path = (directory / f"{scenario.id}.order-sign.json").resolve()
        path.write_text(json.dumps(order_sign_request(scenario, fhir_base), indent=2), encoding="utf-8")
        paths[scenario.id] = path
    return paths


def banner(settings: Settings, fhir_base: str, patients: list[Scenario], request_files: dict[str, Path],
           stored: int, skipped: list[str], refused: list[str]) -> str:
    discovery = f"{settings.base_url}/cds-services"
    service_url = f"{discovery}/{ORDER_SIGN.id}"
    rule = "!" * 78
    lines = [
        rule, "!!  CDS_AUTH=off: DEMO ONLY. Requests are NOT authenticated (no JWT is checked).",
        "!!  Both servers listen on 127.0.0.1 only; never expose them.", rule, "",
        f"CDS Hooks discovery : {discovery}",
        f"FHIR server (SEKMET): {fhir_base}   (no auth; {stored} resources loaded)",
        f"Policy date         : {settings.policy_date}   (CDS_POLICY_DATE)",
    ]
    if skipped:
        lines.append(f"Skipped {len(skipped)} deliberately malformed resource(s): {', '.join(skipped)}")
    lines += [f"NOT loaded (server refused): {problem}" for problem in refused]
    lines += [
        "",
        "Demo patients (the sandbox link opens Patient View with the readiness card; the curl shows order-sign):",
        "",
    ]
    for scenario in patients:
        lines += [
            f"* {scenario.patient_id}  {scenario.patient_name}  [{scenario.id}]",
            f"  {scenario.purpose}",
            f"  sandbox: {sandbox_url(fhir_base, scenario.patient_id, discovery)}",
            (f"  curl -sS -X POST -H 'Content-Type: application/json' "
             f"--data @{shlex.quote(str(request_files[scenario.id]))} {service_url}"),
            "",
        ]
    lines.append("Ctrl-C stops the service and the FHIR server.")
    return "\n".join(lines)


def demo_settings(environ: Mapping[str, str], fhir_base: str, port: int) -> Settings:
    """The service's settings: the caller's environment, with the demo's fixed choices on top."""
    env = dict(environ)
    env.setdefault("CDS_POLICY_DATE", FIXTURES_DATE)
    env.setdefault("CDS_DATABASE_URL", "sqlite:///var/demo/cds.sqlite3")
    env.update(CDS_AUTH="off", CDS_DEV_FHIR_SERVERS=fhir_base)
    return Settings.from_env(env, host="127.0.0.1", port=port)


def _port(environ: Mapping[str, str], name: str, preferred: tuple[int, ...]) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return free_loopback_port(preferred)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SettingsError(f"{name} must be a port number, got {value!r}")
    return int(value)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # `kill` stops the demo like Ctrl-C does: SEKMET is terminated too


def main(var_dir: Path = Path("var/demo")) -> int:
    plain_logs.configure()  # no colour codes in log files, one record per line
    environ = os.environ
    try:
        service_port = _port(environ, "CDS_DEMO_PORT", PREFERRED_SERVICE_PORTS)
        fhir_port = _port(environ, "CDS_DEMO_FHIR_PORT", tuple(p for p in PREFERRED_FHIR_PORTS if p != service_port))
        scenarios = load_scenarios(fixtures_directory())
    except (SettingsError, FileNotFoundError, KeyError, ValueError) as error:
        print(f"cannot start the demo: {error}", file=sys.stderr)
        return 2
    # SIGINT too: a shell starting us in the background would otherwise leave Ctrl-C/kill -INT ignored
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)
    print(f"starting SEKMET on 127.0.0.1:{fhir_port} and loading {len(scenarios)} scenarios ...", flush=True)
    try:
        fhir = start_fhir_server(var_dir / "fhir", port=fhir_port)
    except FhirServerError as error:
        print(f"cannot start the FHIR server: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    server = None
    try:
        stored, skipped, refused = load_into(fhir, scenarios)
        settings = demo_settings(environ, fhir.base_url, service_port)
        server = make_server("127.0.0.1", service_port, create_app(settings), threaded=True)
        patients = demo_patients(scenarios)
        request_files = write_requests(patients, fhir.base_url, var_dir / "requests")
        print("\n" + banner(settings, fhir.base_url, patients, request_files, stored, skipped, refused) + "\n",
              flush=True)
        server.serve_forever()  # returns on Ctrl-C (werkzeug catches the KeyboardInterrupt)
    except KeyboardInterrupt:
        pass  # Ctrl-C while loading
    except (SettingsError, OSError) as error:
        print(f"cannot start the service: {error}", file=sys.stderr)
        return 2
    finally:
        print("\nstopping the service and the FHIR server ...", flush=True)
        if server is not None:
            server.server_close()
        fhir.stop()
    return 0
