"""Only the patient's own resources: a FHIR server may ignore search parameters, so every returned resource
is checked against the patient (and QuestionnaireResponses against the policy's Questionnaire) here."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from cds_service.fhir_access.json_values import as_text
from cds_service.fhir_access.queries import PATIENT_ELEMENT_BY_TYPE


class DroppedResource(NamedTuple):
    """A resource left out of the record, and why (a server that ignored `patient=` sends strangers)."""

    resource_type: str
    resource_id: str | None
    reason: str


def keep_patients_own(
    resources: Iterable[Any], patient_id: str, questionnaire_prefix: str
) -> tuple[list[dict[str, Any]], list[DroppedResource]]:
    """The patient's own resources, each (type, id) once, and the ones left out with the reason."""
    kept: list[dict[str, Any]] = []
    dropped: list[DroppedResource] = []
    seen: set[tuple[str, str]] = set()
    for resource in resources:
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            dropped.append(DroppedResource("?", None, "not a FHIR resource"))
            continue
        resource_type, resource_id = resource["resourceType"], as_text(resource.get("id"))
        reason = _why_not_the_patients(resource, patient_id, questionnaire_prefix)
        if reason is not None:
            dropped.append(DroppedResource(resource_type, resource_id, reason))
            continue
        if resource_id is not None:
            if (resource_type, resource_id) in seen:
                continue  # the same resource from two keys (e.g. prefetch and an _include)
            seen.add((resource_type, resource_id))
        kept.append(resource)
    return kept, dropped


def _why_not_the_patients(resource: dict[str, Any], patient_id: str, questionnaire_prefix: str) -> str | None:
    """None when the resource belongs to the patient, else why it does not."""
    resource_type = resource["resourceType"]
    element = PATIENT_ELEMENT_BY_TYPE.get(resource_type)
    if element is not None and resource_type != "QuestionnaireResponse":  # the usual case, in two look-ups
        link = resource.get(element)
        if isinstance(link, dict) and link.get("reference") == "Patient/" + patient_id:
            return None
    if resource_type == "Patient":
        return None if resource.get("id") == patient_id else "another Patient"
    if resource_type == "Medication":
        return None  # a product, not about a patient: kept so a medicationReference to it resolves
    candidates = (element,) if element else ("subject", "patient")
    references = [reference_of(resource.get(name)) for name in candidates]
    reference = next((value for value in references if value is not None), None)
    if reference is None:
        return f"no {'/'.join(candidates)} reference"
    if not _refers_to_patient(reference, patient_id):
        return f"{'/'.join(candidates)} is another patient"
    if resource_type == "QuestionnaireResponse":
        questionnaire = as_text(resource.get("questionnaire")) or ""
        if not questionnaire.startswith(questionnaire_prefix):
            return "not the policy's Questionnaire"
    return None


def _refers_to_patient(reference: str, patient_id: str) -> bool:
    """`Patient/{id}`, an absolute `.../Patient/{id}`, or either with `/_history/{version}`; surrounding
    whitespace does not count, as the engine reads references (evaluation.record.Record.resolve)."""
    own = "Patient/" + patient_id
    if reference == own:  # nearly every resource: one comparison (issue 12)
        return True
    reference = reference.strip().split("/_history/", 1)[0]
    if reference == own:
        return True
    return "://" in reference and reference.endswith("/" + own)


def reference_of(value: Any) -> str | None:
    return as_text(value.get("reference")) if isinstance(value, dict) else None
