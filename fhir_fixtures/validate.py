"""The self-check of the scenario documents: every resource valid FHIR R4B (but the deliberately malformed
ones), ids unique across files, references resolving inside their scenario, codes verified."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fhir_fixtures.codes import CPT, ICD10CM, LOINC, RXNORM, SNOMED

# The verified codes of the clinical mapping, committed here (the check reads nothing outside the repository).
VERIFIED_CODES = Path(__file__).resolve().parent / "verified_codes.json"


def verified_codes() -> set[tuple[str, str]]:
    listed = json.loads(VERIFIED_CODES.read_text(encoding="utf-8"))["verified"]
    return {(system, code) for system, codes in listed.items() for code in codes}


def references(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def codings(node: Any) -> Iterable[dict]:
    if isinstance(node, dict):
        if "system" in node and "code" in node and "value" not in node:
            yield node
        for value in node.values():
            yield from codings(value)
    elif isinstance(node, list):
        for value in node:
            yield from codings(value)


CHECKED_SYSTEMS = {CPT, ICD10CM, SNOMED, LOINC, RXNORM}
ALLOWED_UNLISTED = {(CPT, "62323")}  # named by the contract (§4 "one procedure per visit")


def check(docs: list[dict]) -> list[str]:
    """Validate with fhir.resources R4B, ids unique, references resolve, codes verified."""
    from fhir.resources.R4B import get_fhir_model_class

    problems: list[str] = []
    verified = verified_codes()
    seen: dict[str, str] = {}
    for doc in docs:
        sid = doc["id"]
        malformed = set(doc.get("malformedResourceIds", []))
        resources = [e["resource"] for b in ("record", "draftOrders") for e in doc[b]["entry"]]
        local = {f"{r['resourceType']}/{r['id']}" for r in resources}
        if doc["patientId"] not in {r["id"] for r in resources if r["resourceType"] == "Patient"}:
            problems.append(f"{sid}: patientId {doc['patientId']} not in record")
        for r in resources:
            key = f"{r['resourceType']}/{r['id']}"
            if key in seen:
                problems.append(f"{sid}: {key} also in {seen[key]}")
            seen[key] = sid
            for target in references(r):
                if target not in local:
                    problems.append(f"{sid}: {key} references missing {target}")
            for coding in codings(r):
                pair = (coding["system"], coding["code"])
                if coding["system"] in CHECKED_SYSTEMS and pair not in verified and pair not in ALLOWED_UNLISTED:
                    problems.append(f"{sid}: {key} uses unverified code {pair}")
            if r["id"] in malformed:
                continue
            try:
                get_fhir_model_class(r["resourceType"]).model_validate(r)
            except Exception as exc:  # noqa: BLE001 - report every validation failure
                problems.append(f"{sid}: {key} invalid: {exc}")
        for b in ("record", "draftOrders"):
            if not malformed:
                try:
                    get_fhir_model_class("Bundle").model_validate(doc[b])
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"{sid}: {b} bundle invalid: {exc}")
        for key in malformed:
            if not any(r["id"] == key for r in resources):
                problems.append(f"{sid}: malformed id {key} not present")
        for order in (e["resource"] for e in doc["draftOrders"]["entry"]):
            if order.get("status") != "draft":
                problems.append(f"{sid}: {order['id']} is not a draft")
    return problems

