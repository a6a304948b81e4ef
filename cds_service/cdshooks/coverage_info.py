"""The Da Vinci CRD coverage-information system actions, and the checker of that extension.

One `update` per in-scope draft order, carrying the order unchanged except for our
`ext-coverage-information` (CRD resp-25, resp-37). Invariants q1–q9 hold by construction;
`check_coverage_information` re-checks them so tests can run it over every response.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from cds_service.cdshooks.presentation import CardSettings, Hook, decision_words, revision_name
from cds_service.evaluation.results import CriterionResult, Decision, ProcedureDetermination
from cds_service.fhir_access.json_values import json_copy
from cds_service.policy.conventions import COVERAGE_INFORMATION_URL, CRD_COVERAGE_DETAIL, CRD_TEMP_CODES


@dataclass(frozen=True)
class AssertionRecord:
    """What the audit store keeps about one coverage assertion (one procedure, one call)."""

    assertion_id: str
    order_ids: tuple[str, ...]
    decision: Decision
    revision_id: str
    criteria: tuple[tuple[str, str], ...]  # (criterion id, status) in policy order
    questionnaire: str | None = None  # canonical|version, when documentation was requested


def build_system_actions(
    determinations: Sequence[ProcedureDetermination],
    *,
    hook: Hook,
    orders_by_id: Mapping[str, dict],
    coverage_reference: str | None,
    questionnaire_for: Callable[[str], str],
    settings: CardSettings,
    new_assertion_id: Callable[[], str],
    today: date,
) -> tuple[list[dict], list[AssertionRecord]]:
    """One coverage-information `update` per in-scope order, and the assertions to audit."""
    if coverage_reference is None:  # CRD: without a Coverage the extension cannot be returned
        return [], []
    actions: list[dict] = []
    records: list[AssertionRecord] = []
    for determination in determinations:
        orders = [orders_by_id[i] for i in determination.order_ids if i in orders_by_id]
        if determination.revision_id is None or determination.decision is None or not orders:
            continue
        questionnaire = (
            questionnaire_for(determination.revision_id) if requests_documentation(determination, hook) else None
        )
        assertion_id = new_assertion_id()  # shared by the orders of one procedure: one decision
        extension = coverage_information(
            determination,
            coverage_reference=coverage_reference,
            settings=settings,
            questionnaire=questionnaire,
            assertion_id=assertion_id,
            today=today,
        )
        description = f"Coverage information ({revision_name(determination)}): {decision_words(determination)}"
        actions += [
            {"type": "update", "description": description, "resource": with_coverage_information(order, extension)}
            for order in orders
        ]
        records.append(AssertionRecord(
            assertion_id=assertion_id,
            order_ids=tuple(o["id"] for o in orders),
            decision=determination.decision,
            revision_id=determination.revision_id,
            criteria=tuple((c.criterion_id, c.status.value) for c in determination.criteria),
            questionnaire=questionnaire,
        ))
    return actions, records


def requests_documentation(determination: ProcedureDetermination, hook: Hook) -> bool:
    """True when attestations the form can give are missing (never at order-select: CRD hook-19)."""
    return (
        hook == "order-sign"
        and determination.decision is Decision.CONDITIONAL
        and any(c.attestable for c in determination.needs_documentation)
    )


def coverage_information(
    determination: ProcedureDetermination,
    *,
    coverage_reference: str,
    settings: CardSettings,
    questionnaire: str | None,
    assertion_id: str,
    today: date,
) -> dict:
    """The ext-coverage-information for one procedure (contract §4, CRD STU 2.2)."""
    decision = determination.decision or Decision.INDETERMINATE
    parts: list[dict] = [
        {"url": "coverage", "valueReference": {"reference": coverage_reference}},
        {"url": "covered", "valueCode": decision.value},
    ]
    if decision is not Decision.NOT_COVERED:  # q2
        parts.append({"url": "pa-needed", "valueCode": settings.pa_needed})
    if questionnaire:
        purpose = "withpa" if settings.pa_needed == "auth-needed" else "withorder"  # q4
        parts += [{"url": "doc-needed", "valueCode": "clinical"}, {"url": "doc-purpose", "valueCode": purpose}]
    if decision is Decision.CONDITIONAL:  # q3
        parts.append({"url": "info-needed", "valueCode": "OTH"})
    parts += [{"url": "reason", "valueCodeableConcept": reason} for reason in _reasons(determination, decision)]
    parts.append(_policy_link(settings.policy_url))
    if questionnaire:  # q1: only next to doc-needed
        parts.append({"url": "questionnaire", "valueCanonical": questionnaire})
    parts += [
        {"url": "date", "valueDate": today.isoformat()},
        {"url": "coverage-assertion-id", "valueString": assertion_id},
    ]
    return {"url": COVERAGE_INFORMATION_URL, "extension": parts}


def with_coverage_information(order: Mapping, extension: dict) -> dict:
    """A copy of the order with our extension for that coverage replaced or added; nothing else changes."""
    updated = json_copy(dict(order))
    coverage = _coverage_of(extension)
    kept: list[dict] = []
    placed = False
    for existing in updated.get("extension", []):
        if existing.get("url") == COVERAGE_INFORMATION_URL and _coverage_of(existing) == coverage:
            if not placed:  # replace in place; drop older repetitions for the same coverage
                kept.append(json_copy(extension))
                placed = True
            continue
        kept.append(existing)
    if not placed:
        kept.append(json_copy(extension))
    updated["extension"] = kept
    return updated


def _reasons(determination: ProcedureDetermination, decision: Decision) -> list[dict]:
    if decision is Decision.INDETERMINATE:  # CRD resp-43; the technical detail stays in logs and audit
        return [{
            "coding": [{"system": CRD_TEMP_CODES, "code": "technical", "display": "Technical problem"}],
            "text": "The patient record could not be read, so coverage could not be checked.",
        }]
    reasons = [{"text": _reason_text(c)} for c in (*determination.not_met, *determination.needs_documentation)]
    if decision is Decision.CONDITIONAL and not reasons:  # q6: info-needed OTH needs a reason
        reasons.append({"text": "Documentation is needed to decide coverage."})
    return reasons


def _reason_text(criterion: CriterionResult) -> str:
    why = criterion.reason or criterion.title
    return f"{criterion.criterion_id}: {criterion.status.label}" + (f" — {why}" if why else "")


def _policy_link(policy_url: str) -> dict:
    return {
        "url": "detail",
        "extension": [
            {"url": "category", "valueCode": "cat-other"},
            {"url": "code", "valueCodeableConcept": {
                "coding": [{"system": CRD_COVERAGE_DETAIL, "code": "policy-link", "display": "Policy link"}],
            }},
            {"url": "value", "valueUrl": policy_url},
        ],
    }


def _coverage_of(extension: Mapping) -> str | None:
    for part in extension.get("extension", []):
        if part.get("url") == "coverage":
            return part.get("valueReference", {}).get("reference")
    return None


# --- checker -------------------------------------------------------------------------------

# sub-extension -> (value key, min, max); None max = unbounded (CRD STU 2.2)
_SUB_EXTENSIONS: dict[str, tuple[str | None, int, int | None]] = {
    "coverage": ("valueReference", 1, 1),
    "covered": ("valueCode", 1, 1),
    "pa-needed": ("valueCode", 0, 1),
    "doc-needed": ("valueCode", 0, None),
    "doc-purpose": ("valueCode", 0, None),
    "info-needed": ("valueCode", 0, None),
    "billingCode": ("valueCoding", 0, None),
    "reason": ("valueCodeableConcept", 0, None),
    "detail": (None, 0, None),  # complex: category, code, value, qualification
    "dependency": ("valueReference", 0, None),
    "questionnaire": ("valueCanonical", 0, None),
    "date": ("valueDate", 1, 1),
    "coverage-assertion-id": ("valueString", 1, 1),
    "satisfied-pa-id": ("valueString", 0, 1),
    "contact": ("valueContactDetail", 0, None),
    "expiry-date": ("valueDate", 0, 1),
}
_CODES = {
    "covered": {"covered", "not-covered", "conditional", "indeterminate"},
    "pa-needed": {"no-auth", "auth-needed", "satisfied", "performpa", "conditional", "indeterminate"},
    "doc-needed": {"clinical", "admin", "patient", "conditional", "indeterminate"},
    "doc-purpose": {"withpa", "withclaim", "withorder", "retain-doc", "OTH"},
    "info-needed": {"performer", "location", "timeframe", "contract-window", "detail-code", "OTH"},
}
_ASSERTION_REASONS = {
    "gold-card", "no-member-found", "no-active-coverage", "coverage-not-found", "auth-out-network", "technical",
}
_DETAIL_CATEGORIES = {"cat-limitation", "cat-decisional", "cat-other"}
_DETAIL_VALUE_KEYS = {"valueBoolean", "valueString", "valueUrl", "valueQuantity", "valuePeriod"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_coverage_information(ext: dict) -> list[str]:
    """Violations of CRD STU 2.2 coverage-information structure and invariants q1–q9 (empty = valid)."""
    if ext.get("url") != COVERAGE_INFORMATION_URL:
        return [f"url is {ext.get('url')!r}, not the coverage-information extension"]
    parts = ext.get("extension")
    if not isinstance(parts, list) or not parts:
        return ["no sub-extensions"]
    problems = _structure_problems(parts)
    values = _code_values(parts)
    problems += _invariant_problems(values, [p for p in parts if p.get("url") == "reason"])
    return problems


def _structure_problems(parts: list[dict]) -> list[str]:
    problems: list[str] = []
    for part in parts:
        url = part.get("url")
        if url not in _SUB_EXTENSIONS:
            problems.append(f"unknown sub-extension {url!r}")
            continue
        value_key = _SUB_EXTENSIONS[url][0]
        if url == "detail":
            problems += _detail_problems(part)
        elif value_key not in part:
            problems.append(f"{url}: missing {value_key}")
        elif url in _CODES and part[value_key] not in _CODES[url]:
            problems.append(f"{url}: {part[value_key]!r} is not in its value set")
        elif value_key == "valueDate" and not _is_date(part[value_key]):
            problems.append(f"{url}: {part[value_key]!r} is not a YYYY-MM-DD date")
        elif url == "coverage" and not (isinstance(part[value_key], dict) and part[value_key].get("reference")):
            problems.append("coverage: reference is empty")
        elif value_key == "valueString" and not part[value_key]:
            problems.append(f"{url}: empty")
    for url, (_, low, high) in _SUB_EXTENSIONS.items():
        count = sum(1 for part in parts if part.get("url") == url)
        if count < low or (high is not None and count > high):
            problems.append(f"{url}: {count} present, allowed {low}..{high if high is not None else '*'}")
    return problems


def _detail_problems(part: dict) -> list[str]:
    inner = {p.get("url"): p for p in part.get("extension", [])}
    problems = []
    if inner.get("category", {}).get("valueCode") not in _DETAIL_CATEGORIES:
        problems.append("detail: category missing or not cat-limitation | cat-decisional | cat-other")
    if not inner.get("code", {}).get("valueCodeableConcept"):
        problems.append("detail: code missing")
    if not _DETAIL_VALUE_KEYS & set(inner.get("value", {})):
        problems.append("detail: value missing")
    return problems


def _invariant_problems(values: dict[str, list[str]], reasons: list[dict]) -> list[str]:
    covered = values["covered"][0] if values.get("covered") else None
    pa_needed = values["pa-needed"][0] if values.get("pa-needed") else None
    problems = []
    if "questionnaire" in values and "doc-needed" not in values:
        problems.append("q1: questionnaire without doc-needed")
    if covered == "not-covered" and pa_needed is not None:
        problems.append("q2: pa-needed present although covered = not-covered")
    conditional = "conditional" in (covered, pa_needed, *values.get("doc-needed", []))
    if conditional != ("info-needed" in values):
        problems.append("q3: info-needed must be present if and only if something is conditional")
    # q4 as the IG means it ("noauth" in its FHIRPath is a typo for no-auth); not-covered implies no PA.
    if "withpa" in values.get("doc-purpose", []) and (
        pa_needed in {"satisfied", "no-auth", "noauth"} or covered == "not-covered"
    ):
        problems.append("q4: doc-purpose withpa although no prior authorization is to be requested")
    if (pa_needed == "satisfied") != ("satisfied-pa-id" in values):
        problems.append("q5: satisfied-pa-id must be present if and only if pa-needed = satisfied")
    if "OTH" in values.get("info-needed", []) and not reasons:
        problems.append("q6: info-needed OTH without a reason")
    problems += [f"q7: reason {i} is coded outside the value set and has no text"
                 for i, reason in enumerate(reasons) if _needs_text(reason.get("valueCodeableConcept", {}))]
    if "doc-purpose" in values and not reasons:
        problems.append("q8: doc-purpose without a reason")
    indeterminate = "indeterminate" in (covered, pa_needed, *values.get("doc-needed", []))
    if indeterminate and not reasons:
        problems.append("q9: indeterminate without a reason")
    return problems


def _code_values(parts: list[dict]) -> dict[str, list[str]]:
    """Sub-extension url -> its values (codes for coded ones; presence for the others)."""
    values: dict[str, list[str]] = {}
    for part in parts:
        url = part.get("url")
        if url in _SUB_EXTENSIONS and url != "reason":
            values.setdefault(url, []).append(str(part.get(_SUB_EXTENSIONS[url][0] or "url")))
    return values


def _needs_text(concept: Mapping) -> bool:
    if concept.get("text"):
        return False
    codings = concept.get("coding", [])
    in_value_set = any(c.get("system") == CRD_TEMP_CODES and c.get("code") in _ASSERTION_REASONS for c in codings)
    return not in_value_set


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
