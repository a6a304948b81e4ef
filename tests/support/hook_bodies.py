"""CDS Hooks request bodies built from the synthetic scenarios, prefetched or not."""
from __future__ import annotations

import copy
import uuid
from typing import Any

from cds_service.fhir_access.queries import EVIDENCE_QUERIES
from tests.support.scenarios import draft_orders, record_resources

PRACTITIONER = "Practitioner/dr-test"


def prefetch_for(scenario: dict[str, Any]) -> dict[str, Any]:
    """Every prefetch key filled from the scenario's record, as an EHR that honours the templates would."""
    resources = [r for r in record_resources(scenario) if r.get("id") not in set(scenario.get("malformedResourceIds", []))]
    prefetch: dict[str, Any] = {}
    for query in EVIDENCE_QUERIES:
        of_type = [r for r in resources if r["resourceType"] == query.resource_type]
        if query.is_read:
            prefetch[query.key] = of_type[0] if of_type else None
        else:
            prefetch[query.key] = {"resourceType": "Bundle", "type": "searchset", "total": len(of_type),
                                   "entry": [{"resource": r} for r in of_type]}
    return prefetch


def hook_body(scenario: dict[str, Any], hook: str, *, fhir_server: str | None = None, token: str | None = None,
              prefetch: bool = True) -> dict[str, Any]:
    orders = draft_orders(scenario)
    context: dict[str, Any] = {
        "userId": PRACTITIONER,
        "patientId": scenario["patientId"],
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]},
    }
    if hook == "order-select":
        context["selections"] = [f"ServiceRequest/{o['id']}" for o in orders[:1]]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if fhir_server:
        body["fhirServer"] = fhir_server
        if token:
            body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                         "scope": "patient/*.read", "subject": "cds-service"}
    if prefetch:
        body["prefetch"] = prefetch_for(scenario)
    return copy.deepcopy(body)  # callers may tamper with it; the cached scenarios must stay as written


def coverage_decisions(response: dict[str, Any]) -> dict[str, str]:
    """order id → `covered` of its coverage-information extension."""
    out = {}
    for action in response.get("systemActions", []):
        resource = action.get("resource", {})
        for ext in resource.get("extension", []):
            if ext.get("url", "").endswith("ext-coverage-information"):
                covered = next(e["valueCode"] for e in ext["extension"] if e["url"] == "covered")
                out[resource["id"]] = covered
    return out
