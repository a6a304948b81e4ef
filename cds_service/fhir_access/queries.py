"""The data that drives fetching: for each evidence key, the resource type and the FHIR query.

The same templates are declared as prefetch in discovery (`PREFETCH_TEMPLATES`) and used to fetch a key
the client did not prefetch (`render_template`). Only CDS Hooks 2.0 root-level tokens are used
(`{{context.patientId}}`), so every client can fill them.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cds_service.fhir_access.relevance import observation_query_codes
from cds_service.policy.conventions import CODE_SYSTEM_OIDS, LOINC
from cds_service.policy.library import DATA_DIR
from cds_service.policy.loader import load_valuesets

# Observations the policy reads, derived with the local filter's own source (relevance.py): the engine's
# named codes (pain score, ADL interference, percent relief) and every code of the policy's Observation
# value sets (`obs-*`, `lab-*`: pain scales, relief, eGFR). Each LOINC code is asked for by the URL and
# by the OID (contract §4 "Codes"), so a fetched record holds what the same record prefetched would.
# SEKMET honours a comma OR list of tokens (tested in tests/integration/fhir_access); a server that
# ignores `code` only sends more Observations, which relevance.py filters locally.
# The other searches carry no code filter on purpose: Conditions match ICD-10 descendants (`M54.5`
# covers `M54.50`, which a token list cannot say without the rarely supported `:below`), drugs also match
# by their words (NSAID names), and Procedures count a CPT code with no system or in lower case, which a
# `system|code` token would miss.
_OBSERVATION_QUERY_CODES = observation_query_codes(load_valuesets(DATA_DIR / "valuesets.json"))
OBSERVATION_LOINC_CODES: tuple[str, ...] = tuple(code for system, code in _OBSERVATION_QUERY_CODES if system == LOINC)
_LOINC_OID = next(oid for oid, url in CODE_SYSTEM_OIDS.items() if url == LOINC)
_OBSERVATION_CODES = ",".join(
    token
    for system, code in _OBSERVATION_QUERY_CODES
    for token in ([f"{system}|{code}", f"{_LOINC_OID}|{code}"] if system == LOINC else [f"{system}|{code}"])
)


@dataclass(frozen=True)
class EvidenceQuery:
    """One prefetch key: what resource type it holds, how to get it, and which element names the patient."""

    key: str
    resource_type: str
    template: str
    patient_element: str  # the Reference element that must point at the patient

    @property
    def is_read(self) -> bool:
        """A read (`Patient/{id}`) rather than a search (`Condition?...`)."""
        return "?" not in self.template


EVIDENCE_QUERIES: tuple[EvidenceQuery, ...] = (
    EvidenceQuery("patient", "Patient", "Patient/{{context.patientId}}", "id"),
    EvidenceQuery("coverage", "Coverage", "Coverage?patient={{context.patientId}}&status=active", "beneficiary"),
    EvidenceQuery("conditions", "Condition", "Condition?patient={{context.patientId}}", "subject"),
    EvidenceQuery("procedures", "Procedure", "Procedure?patient={{context.patientId}}", "subject"),
    # `_include` brings the Medication a `medicationReference` names (contract §4: read like an inline code)
    EvidenceQuery(
        "medicationStatements",
        "MedicationStatement",
        "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication",
        "subject",
    ),
    EvidenceQuery(
        "medicationRequests",
        "MedicationRequest",
        "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication",
        "subject",
    ),
    EvidenceQuery("allergies", "AllergyIntolerance", "AllergyIntolerance?patient={{context.patientId}}", "patient"),
    EvidenceQuery(
        "observations",
        "Observation",
        "Observation?patient={{context.patientId}}&code=" + _OBSERVATION_CODES,
        "subject",
    ),
    EvidenceQuery(
        "questionnaireResponses",
        "QuestionnaireResponse",
        "QuestionnaireResponse?subject=Patient/{{context.patientId}}",
        "subject",
    ),
    EvidenceQuery("devices", "Device", "Device?patient={{context.patientId}}", "patient"),
)

QUERIES_BY_KEY: dict[str, EvidenceQuery] = {query.key: query for query in EVIDENCE_QUERIES}

# The discovery document's `prefetch` for every hook service.
PREFETCH_TEMPLATES: dict[str, str] = {query.key: query.template for query in EVIDENCE_QUERIES}

# The element that links a resource of each type to its patient (types outside EVIDENCE_QUERIES can
# arrive through `_include` or a generous prefetch; they are judged by `subject`).
PATIENT_ELEMENT_BY_TYPE: dict[str, str] = {query.resource_type: query.patient_element for query in EVIDENCE_QUERIES}

_TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_CONTEXT_TOKEN = re.compile(r"context\.([A-Za-z][A-Za-z0-9_]*)")


def render_template(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill the `{{context.X}}` tokens of a prefetch template from the hook context.

    Values are percent-encoded, so a caller-supplied id cannot add query parameters or path segments.
    Returns None when a token cannot be filled (unknown token, missing or non-primitive value): the
    CDS Hooks rule is that such a template is skipped, never sent half-filled.
    """
    unfilled = False

    def fill(match: re.Match[str]) -> str:
        nonlocal unfilled
        value = _context_value(match.group(1), context)
        if value is None:
            unfilled = True
            return ""
        return quote(value, safe="")

    rendered = _TOKEN.sub(fill, template)
    return None if unfilled else rendered


def _context_value(token: str, context: Mapping[str, Any]) -> str | None:
    name = _CONTEXT_TOKEN.fullmatch(token)
    if name is None:
        return None
    value = context.get(name.group(1))
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float):
        return str(value)
    return None
