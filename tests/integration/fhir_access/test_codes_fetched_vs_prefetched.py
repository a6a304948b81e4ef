"""OID-coded and eGFR Observations, and a referenced Medication (`_include`), over real HTTP: the record fetched from SEKMET decides like the same record
prefetched (contract §4 "Codes"; the fetch's `code=` OR list must not drop what the engine reads)."""
from __future__ import annotations

import copy
import functools
from typing import Any

import pytest

from cds_service.evaluation.evaluator import evaluate
from cds_service.fhir_access import FhirClient, gather_record, new_session
from cds_service.fhir_access.normalize import normalize_resources
from cds_service.fhir_access.queries import EVIDENCE_QUERIES, PREFETCH_TEMPLATES
from cds_service.policy.conventions import CODE_SYSTEM_OIDS
from cds_service.usecases.engine import default_library
from tests.support.fhir_builders import (
    DOS,
    PATIENT,
    block_with_relief,
    condition,
    coverage,
    months_ago,
    order,
    patient,
    subject,
)
from tests.support.hook_requests import as_request
from tests.support.sekmet import load_bundle, start_sekmet

pytestmark = pytest.mark.fhir_server

TOKEN = "test-token"
OID = {url: oid for oid, url in CODE_SYSTEM_OIDS.items()}


def to_oid(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: to_oid(v) for k, v in value.items()}
        if out.get("system") in OID and "code" in out:
            out["system"] = OID[out["system"]]
        return out
    if isinstance(value, list):
        return [to_oid(v) for v in value]
    return value


def egfr(oid: str, loinc: str, value: float, system: str = "http://loinc.org") -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": subject(),
            "code": {"coding": [{"system": system, "code": loinc}]},
            "effectiveDateTime": f"{months_ago(1).isoformat()}T08:00:00Z",
            "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}"}}


@functools.cache
def _record() -> tuple[dict, ...]:
    """Blocks and pain scores all OID-coded, an OID eGFR below 30 and a URL eGFR (98979-8, CKD-EPI 2021)."""
    blocks = block_with_relief(months_ago(3), 10, 1) + block_with_relief(months_ago(2), 10, 2)
    medication = {"resourceType": "Medication", "id": "med-naproxen",
                  "code": {"coding": [{"system": OID["http://www.nlm.nih.gov/research/umls/rxnorm"], "code": "7258"}]}}
    request = {"resourceType": "MedicationRequest", "id": "mr-naproxen", "status": "completed", "intent": "order",
               "subject": subject(), "authoredOn": months_ago(6).isoformat(),
               "medicationReference": {"reference": "Medication/med-naproxen"},
               "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days",
                                                              "system": "http://unitsofmeasure.org", "code": "d"}}}
    return (patient(), coverage(), condition("M47.816", months_ago(8)), *to_oid(blocks),
            egfr("egfr-oid", "62238-1", 25, system=OID["http://loinc.org"]), egfr("egfr-2021", "98979-8", 70),
            medication, request)


def record() -> list[dict]:
    """One record (the builders number their ids), a fresh copy each time."""
    return copy.deepcopy(list(_record()))


@pytest.fixture(scope="module")
def sekmet(tmp_path_factory):
    base_url, stop = start_sekmet(tmp_path_factory.mktemp("sekmet-codes"), token=TOKEN)
    try:
        load_bundle(base_url, TOKEN, {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in record()]})
        yield base_url
    finally:
        stop()


def prefetch() -> dict:
    by_type: dict[str, list[dict]] = {}
    for r in record():
        by_type.setdefault(r["resourceType"], []).append(r)
    out: dict[str, Any] = {key: None for key in PREFETCH_TEMPLATES}
    for query in EVIDENCE_QUERIES:
        found = by_type.get(query.resource_type, [])
        if query.resource_type == "MedicationRequest":  # what a client honouring the template's _include sends
            found = found + by_type["Medication"]
        out[query.key] = found[0] if query.is_read else {
            "resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}
    return out


def decide(hook_request: dict, session) -> tuple[set[str], dict[str, str]]:
    """The Observation and Medication ids in the record, and every criterion's status for an RF and a block."""
    gathered = gather_record(as_request(hook_request), client_factory=lambda url, token: FhirClient(url, token, session),
                             deadline_s=5)
    assert gathered.technical_problem is None
    resources = normalize_resources(gathered.resources).resources
    observations = {r["id"] for r in resources if r["resourceType"] in ("Observation", "Medication")}
    criteria = {}
    for o in (order("64635"), order()):
        d = evaluate(default_library(), resources, [o], today=DOS).determinations[0]
        criteria.update({f"{o['code']['coding'][0]['code']} {c.criterion_id}": c.status.value for c in d.criteria})
    return observations, criteria


def test_oid_coded_and_egfr_observations_are_fetched_and_decide_like_prefetched(sekmet):
    base = {"hook": "order-sign", "hookInstance": "6f1b1d0e-30a5-4c6b-9a52-2f1c7a3b2d11", "fhirServer": sekmet,
            "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer"},
            "context": {"patientId": PATIENT, "userId": "Practitioner/1"}}
    with new_session() as session:
        fetched_obs, fetched = decide(base, session)
        prefetched_obs, prefetched = decide({**base, "prefetch": prefetch()}, session)

    expected_obs = {r["id"] for r in record() if r["resourceType"] in ("Observation", "Medication")}
    assert fetched_obs == prefetched_obs == expected_obs
    assert fetched == prefetched
    assert fetched["64635 I.B.1.b"] == "met"  # OID pain scores partOf OID-coded blocks
    assert fetched["64493 I.A.1.b.ii"] == "met"  # the OID eGFR of 25 contraindicates NSAIDs
