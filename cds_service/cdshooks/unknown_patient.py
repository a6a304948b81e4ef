"""The card for a patient the FHIR server does not know (404 on the Patient read).

Not "try again later": retrying will not help, and nothing of the record was read, so no criterion is listed
(a table of "needs documentation" rows would read as if the chart had been searched and found wanting).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from cds_service.cdshooks.presentation import CardSettings, fit_summary, guideline_source

OUTCOME = "patient not found on the FHIR server"


def patient_not_found_card(*, policy_id: str, settings: CardSettings, new_uuid: Callable[[], str],
                           about: Sequence[str] = ()) -> dict:
    detail = (f"The EHR's FHIR server has no record of this patient (it answered *not found* when the "
              f"Patient in the hook's `context.patientId` was read). Nothing of the patient's record "
              f"was read, so no {policy_id} criterion was checked and no coverage decision was made.\n\n"
              "Check that the chart's patient exists on the FHIR server this EHR sends to the service "
              "(`fhirServer`) under the same id.")
    source = guideline_source(settings)
    card: dict = {"uuid": new_uuid(), "indicator": "warning", "source": source, "detail": detail,
                  "summary": fit_summary(f"{policy_id} not checked: the FHIR server does not know this patient")}
    if about:
        card["extension"] = {"davinci-crd.associated-resource": list(about)}
    return card
