"""What the patient-view tests share: request bodies, card reading, extra patients, and a sandbox-like stack.

The sandbox-like stack is an OPEN FHIR server (the sandbox sends no fhirAuthorization) loaded with the demo
patients, and the service trusting the real sandbox client entry plus a test client whose key we hold.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cds_service.dev.fhir_server import FhirServer, start_fhir_server
from tests.support.jwt_factory import KeyPair
from tests.support.scenarios import all_scenarios, record_resources
from tests.support.service_process import ServiceProcess, start_service

SERVICE_ID = "facet-patient-view"
SANDBOX_USER = "Practitioner/COREPRACTITIONER1"  # what the sandbox always sends when opened directly
TEST_CLIENT_ISS = "https://patient-view-client.test.example"  # made up; nothing is fetched from it
# The real sandbox's public key (shared/reference/sandbox.md §7); its private key is not ours to use.
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JWKS_URL = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_JWKS = {"keys": [{
    "kty": "EC", "crv": "P-384", "kid": SANDBOX_KID, "use": "sig", "alg": "ES384",
    "x": "dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB",
    "y": "Sm3mLE-n1zYNla_aiE3cb3nZsL51RbC7ysw3q8aJLxGm-hx79RPMYpITDjp7kgzy",
}]}

NO_SPINE_PATIENT = "pv-no-spine"  # hypertension only
RESOLVED_BACK_PAIN_PATIENT = "pv-resolved-back-pain"  # low back pain, resolved a year ago


# --- requests and cards ---------------------------------------------------------------------------

def patient_view_body(patient_id: str, *, fhir_server: str | None = None, token: str | None = None,
                      prefetch: dict[str, Any] | None = None, user: str = "Practitioner/dr-test") -> dict[str, Any]:
    body: dict[str, Any] = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                            "context": {"userId": user, "patientId": patient_id}}
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "cds-service"}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


_ROW = re.compile(r"^\| (?P<name>[^|]+?) \((?P<codes>[^)]*)\) \| \*\*(?P<verdict>[^*]+)\*\* \| (?P<ids>[^|]*) \|$")


@dataclass(frozen=True)
class Line:
    """One row of the card's overview table, as the clinician reads it."""

    codes: str  # "64493, L4-L5"
    verdict: str  # would be covered | needs documentation | not covered
    criteria: tuple[str, ...]


def overview(card: dict[str, Any]) -> dict[str, Line]:
    """Intervention name ("Lumbar facet block") → its row in the card's overview table."""
    lines = {}
    for text in card["detail"].splitlines():
        match = _ROW.match(text)
        if match:
            ids = match["ids"].strip()
            criteria = () if ids == "—" else tuple(i.strip() for i in ids.split(","))
            lines[match["name"]] = Line(match["codes"], match["verdict"], criteria)
    return lines


# --- patients without an active spinal pain diagnosis ----------------------------------------------

def extra_patients() -> list[dict[str, Any]]:
    """Two tiny synthetic patients the scenarios lack: no spinal diagnosis, and back pain long resolved."""
    test_tag = {"tag": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}]}

    def patient(pid: str, family: str) -> dict[str, Any]:
        return {"resourceType": "Patient", "id": pid, "meta": test_tag, "name": [{"family": family, "given": ["Test"]}],
                "birthDate": "1970-01-01"}

    def condition(cid: str, pid: str, system: str, code: str, display: str, **status: Any) -> dict[str, Any]:
        return {"resourceType": "Condition", "id": cid, "meta": test_tag, "subject": {"reference": f"Patient/{pid}"},
                "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
                "onsetDateTime": "2024-01-10", **status}

    clinical = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    return [
        patient(NO_SPINE_PATIENT, "Nospine"),
        condition("pv-no-spine-htn", NO_SPINE_PATIENT, "http://snomed.info/sct", "38341003", "Hypertension",
                  clinicalStatus={"coding": [{"system": clinical, "code": "active"}]}),
        patient(RESOLVED_BACK_PAIN_PATIENT, "Resolved"),
        condition("pv-resolved-lbp", RESOLVED_BACK_PAIN_PATIENT, "http://hl7.org/fhir/sid/icd-10-cm", "M54.50",
                  "Low back pain, unspecified", clinicalStatus={"coding": [{"system": clinical, "code": "resolved"}]},
                  abatementDateTime="2025-06-01"),
    ]


def demo_resources() -> list[dict[str, Any]]:
    """The demo patients' records (deliberately malformed resources left out, as a FHIR server would refuse them)."""
    out = []
    for scenario in all_scenarios():
        if scenario.get("demo"):
            skip = set(scenario.get("malformedResourceIds", []))
            out += [r for r in record_resources(scenario) if r.get("id") not in skip]
    return out


# --- the sandbox-like stack --------------------------------------------------------------------------

def sandbox_client_entry(fhir_servers: list[str]) -> dict[str, Any]:
    """The real sandbox's entry, as the README tells a developer to configure it (development-only trust)."""
    return {"iss": SANDBOX_ISS, "jwks_url": SANDBOX_JWKS_URL, "jwks": SANDBOX_JWKS, "fhir_servers": fhir_servers}


@dataclass
class SandboxStack:
    fhir: FhirServer  # open: no bearer token, like a FHIR server the sandbox reads directly
    service: ServiceProcess  # trusts the sandbox entry and TEST_CLIENT_ISS (signed with service.key)

    @property
    def fhir_base(self) -> str:
        return self.fhir.base_url


def start_sandbox_stack(tmp: Path, extra_env: dict[str, str] | None = None) -> SandboxStack:
    fhir = start_fhir_server(tmp / "fhir", bearer_token=None, log_requests=False)
    try:
        fhir.put_resources(demo_resources() + extra_patients())
        key = KeyPair.generate("ES384")
        clients = [sandbox_client_entry([fhir.base_url]),
                   {"iss": TEST_CLIENT_ISS, "jwks": key.jwks(), "fhir_servers": [fhir.base_url]}]
        service = start_service(tmp / "service", clients=clients, key=key, iss=TEST_CLIENT_ISS, extra_env=extra_env)
    except BaseException:
        fhir.stop()
        raise
    return SandboxStack(fhir, service)


@pytest.fixture(scope="session")
def sandbox_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    stack = start_sandbox_stack(tmp_path_factory.mktemp("sandbox-stack"))
    try:
        yield stack
    finally:
        stack.service.stop()
        stack.fhir.stop()
