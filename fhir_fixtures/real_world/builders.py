"""Small builders for FHIR R4 resources shaped the way Epic/Cerner-style EHRs send them.

Deliberately uneven: some resources carry US Core profiles, vendor extensions and OID code systems, some
leave optional fields out, as real exports do.
"""
from __future__ import annotations

import uuid
import zlib
from typing import Any

from fhir_fixtures.codes import coding, concept

ICD10_URL = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10_OID = "urn:oid:2.16.840.1.113883.6.90"
CPT_URL = "http://www.ama-assn.org/go/cpt"
CPT_OID = "urn:oid:2.16.840.1.113883.6.12"
SNOMED_URL = "http://snomed.info/sct"
SNOMED_OID = "urn:oid:2.16.840.1.113883.6.96"
RXNORM_URL = "http://www.nlm.nih.gov/research/umls/rxnorm"
RXNORM_OID = "urn:oid:2.16.840.1.113883.6.88"
LOINC_URL = "http://loinc.org"
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"
UCUM = "http://unitsofmeasure.org"
DIAGNOSTIC = ("261004008", "Diagnostic intent")
THERAPEUTIC = ("262202000", "Therapeutic intent")
Q_2026 = "https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|2026-05"
Q_2019 = "https://facet-cds.example.org/fhir/Questionnaire/cp-mp-171|2019"
HTEST = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST", "display": "test health data"}
EPIC_EXT = "http://open.epic.com/FHIR/StructureDefinition/extension"
CERNER_EXT = "https://fhir-ehr.cerner.com/r4/StructureDefinition"


def us_core(profile: str) -> dict[str, Any]:
    return {"profile": [f"http://hl7.org/fhir/us/core/StructureDefinition/us-core-{profile}"], "tag": [HTEST]}


# The coding and CodeableConcept primitives are the synthetic builder's (fhir_fixtures/codes.py): one shape for both.
cc = concept


class Record:
    """One patient's record plus draft orders; ids are prefixed so scenarios never collide on a FHIR server."""

    def __init__(self, prefix: str, *, birth: str = "1966-02-14", gender: str = "female", vendor: str = "epic",
                 urn_uuid: bool = False) -> None:
        self.p = prefix
        self.vendor = vendor
        self.urn_uuid = urn_uuid
        self.entries: list[dict[str, Any]] = []
        self.orders: list[dict[str, Any]] = []
        self.patient_id = f"{prefix}-patient"
        self.practitioner_id = f"{prefix}-dr"
        self.coverage_id = f"{prefix}-coverage"
        self._n = 0
        pat: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.patient_id,
            "meta": us_core("patient"),
            "identifier": [
                {
                    "use": "usual",
                    "type": cc(coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MR")),
                    "system": "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14",
                    "value": f"E{zlib.crc32(prefix.encode()) % 10**7:07d}",
                }
            ],
            "name": [{"use": "official", "family": f"Synthetic-{prefix}", "given": ["Test"]}],
            "gender": gender,
            "birthDate": birth,
        }
        if vendor == "epic":
            pat["extension"] = [
                {
                    "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                    "valueCode": gender[0].upper(),
                },
                {
                    "url": f"{EPIC_EXT}/legal-sex",
                    "valueCodeableConcept": cc(
                        coding("urn:oid:1.2.840.114350.1.13.0.1.7.10.698084.130.657370.19999000", gender)
                    ),
                },
            ]
        self.add(pat)
        self.add({"resourceType": "Practitioner", "id": self.practitioner_id, "meta": {"tag": [HTEST]},
                  "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
                  "name": [{"family": "Reviewer", "given": ["Pat"], "prefix": ["Dr."]}]})

    # ---------------------------------------------------------------- plumbing
    def _id(self, kind: str) -> str:
        self._n += 1
        return f"{self.p}-{kind}-{self._n}"

    def ref(self, resource: dict[str, Any]) -> dict[str, str]:
        if self.urn_uuid:
            return {"reference": resource["_fullUrl"]}
        return {"reference": f"{resource['resourceType']}/{resource['id']}"}

    @property
    def subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def add(self, r: dict[str, Any]) -> dict[str, Any]:
        r["_fullUrl"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, self.p + '/' + r['id'])}"
        self.entries.append(r)
        return r

    # ---------------------------------------------------------------- record
    def coverage(self) -> dict[str, Any]:
        return self.add({
            "resourceType": "Coverage", "id": self.coverage_id, "meta": us_core("coverage"), "status": "active",
            "type": cc(coding("urn:oid:2.16.840.1.113883.3.221.5", "5", "PRIVATE HEALTH INSURANCE")),
            "subscriberId": f"{self.p.upper()}0001", "beneficiary": self.subject,
            "relationship": cc(coding("http://terminology.hl7.org/CodeSystem/subscriber-relationship", "self")),
            "period": {"start": "2024-01-01"}, "payor": [{"display": "Synthetic Demo Health Plan"}],
        })

    def condition(self, code: str, display: str, *, system: str = ICD10_URL, onset: dict[str, Any] | None = None,
                  recorded: str | None = None, clinical: str = "active", verification: str | None = "confirmed",
                  abatement: dict[str, Any] | None = None, extra_codings: list[dict[str, Any]] | None = None,
                  category: str = "problem-list-item") -> dict[str, Any]:
        r: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self._id("cond"),
            "meta": us_core(
                "condition-problems-health-concerns"
                if category == "problem-list-item"
                else "condition-encounter-diagnosis"
            ),
            "clinicalStatus": cc(coding("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical)),
            "category": [cc(coding("http://terminology.hl7.org/CodeSystem/condition-category", category))],
            "code": cc(coding(system, code, display), *(extra_codings or []), text=display),
            "subject": self.subject,
        }
        if verification:
            r["verificationStatus"] = cc(
                coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification)
            )
        r.update(onset or {})
        r.update(abatement or {})
        if recorded:
            r["recordedDate"] = recorded
        if self.vendor == "cerner":
            r["extension"] = [
                {
                    "url": f"{CERNER_EXT}/condition-responsible-provider",
                    "valueReference": {"reference": f"Practitioner/{self.practitioner_id}"},
                }
            ]
        return self.add(r)

    def procedure(
        self,
        code: str,
        display: str,
        *,
        system: str = CPT_URL,
        when: str | None = None,
        period: tuple[str, str] | None = None,
        status: str = "completed",
        intent: tuple[str, str] | None = None,
        body_sites: list[dict[str, Any]] | None = None,
        text: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        r: dict[str, Any] = {"resourceType": "Procedure", "id": self._id("proc"), "meta": us_core("procedure"),
                             "status": status, "code": cc(coding(system, code, display), text=text or display),
                             "subject": self.subject}
        if when:
            r["performedDateTime"] = when
        if period:
            r["performedPeriod"] = {"start": period[0], "end": period[1]}
        if intent:
            r["category"] = cc(coding(SNOMED_URL, *intent), text=intent[1])
        if body_sites:
            r["bodySite"] = body_sites
        if note:
            r["note"] = [{"text": note}]
        if self.vendor == "epic":
            r["extension"] = [{"url": f"{EPIC_EXT}/procedure-surgical-case-id", "valueString": self._id("case")}]
        return self.add(r)

    def pt_course(self, dates: list[str], code: str = "97110", display: str = "Therapeutic exercises, each 15 minutes",
                  system: str = CPT_URL) -> None:
        """A 97161 evaluation on the first date, then treatment visits on every date."""
        self.procedure("97161", "PT evaluation, low complexity", system=system, when=dates[0])
        for d in dates:
            self.procedure(code, display, system=system, when=d)

    def med_statement(self, rxcui: str | None, display: str, *, period: tuple[str, str | None] | None = None,
                      when: str | None = None, status: str = "completed", system: str = RXNORM_URL,
                      dosage_text: str | None = None) -> dict[str, Any]:
        med = cc(coding(system, rxcui, display), text=display) if rxcui else {"text": display}
        r: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "id": self._id("medstmt"),
            "meta": us_core("medication"),
            "status": status,
            "medicationCodeableConcept": med,
            "subject": self.subject,
        }
        if dosage_text:
            r["dosage"] = [
                {"text": dosage_text, "route": cc(coding(SNOMED_URL, "26643006", "Oral route"), text="Oral")}
            ]
        if period:
            r["effectivePeriod"] = {"start": period[0]} | ({"end": period[1]} if period[1] else {})
        if when:
            r["effectiveDateTime"] = when
        return self.add(r)

    def med_request(
        self,
        rxcui: str | None,
        display: str,
        *,
        authored: str,
        quantity: float | None = None,
        unit: str = "tablet",
        per_day: float | None = None,
        supply_days: int | None = None,
        validity: tuple[str, str] | None = None,
        bounds_days: int | None = None,
        dosage_text: str | None = None,
        contained: bool = False,
        system: str = RXNORM_URL,
        status: str = "completed",
        route: tuple[str, str] | None = ("26643006", "Oral route"),
    ) -> dict[str, Any]:
        r: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self._id("medrx"),
            "meta": us_core("medicationrequest"),
            "status": status,
            "intent": "order",
            "subject": self.subject,
            "authoredOn": authored,
            "requester": {"reference": f"Practitioner/{self.practitioner_id}"},
        }
        med = cc(*( [coding(system, rxcui, display)] if rxcui else []), text=display)
        if contained:
            r["contained"] = [{"resourceType": "Medication", "id": "med1", "code": med}]
            r["medicationReference"] = {"reference": "#med1", "display": display}
        else:
            r["medicationCodeableConcept"] = med
        dosage: dict[str, Any] = {}
        if dosage_text:
            dosage["text"] = dosage_text
        if per_day:
            dosage["timing"] = {"repeat": {"frequency": int(per_day), "period": 1, "periodUnit": "d"}}
            dosage["doseAndRate"] = [{"doseQuantity": {"value": 1, "unit": unit}}]
        if bounds_days:
            dosage.setdefault("timing", {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}})
            dosage["timing"]["repeat"]["boundsDuration"] = {
                "value": bounds_days,
                "unit": "days",
                "system": UCUM,
                "code": "d",
            }
        if route:
            dosage["route"] = cc(coding(SNOMED_URL, *route), text=route[1])
        if dosage:
            r["dosageInstruction"] = [dosage]
        disp: dict[str, Any] = {}
        if quantity:
            disp["quantity"] = {"value": quantity, "unit": unit}
        if supply_days:
            disp["expectedSupplyDuration"] = {"value": supply_days, "unit": "days", "system": UCUM, "code": "d"}
        if validity:
            disp["validityPeriod"] = {"start": validity[0], "end": validity[1]}
        if disp:
            r["dispenseRequest"] = disp
        return self.add(r)

    def pain_score(self, value: float, when: str, *, part_of: dict[str, Any] | None = None, phase: str | None = None,
                   system: str = LOINC_URL) -> dict[str, Any]:
        r: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self._id("obs"),
            "meta": {"tag": [HTEST]},
            "status": "final",
            "category": [cc(coding("http://terminology.hl7.org/CodeSystem/observation-category", "survey"))],
            "code": cc(coding(system, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")),
            "subject": self.subject,
            "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": "{score}", "system": UCUM, "code": "{score}"},
        }
        if phase:
            r["category"].append(cc(coding("https://facet-cds.example.org/fhir/CodeSystem/facet-cds", phase)))
        if part_of:
            r["partOf"] = [self.ref(part_of)]
        return self.add(r)

    def block(self, code: str, display: str, day: str, *, before: float | None = 8, after: float | None = 1,
              sites: list[str] | None = None, intent: tuple[str, str] | None = DIAGNOSTIC, system: str = CPT_URL,
              addon: tuple[str, str] | None = None) -> dict[str, Any]:
        """A completed facet procedure at 09:00 with NRS scores at 08:30 and 10:30 (partOf the primary)."""
        bs = [{"text": s} for s in (sites or [])]
        p = self.procedure(
            code, display, system=system, when=f"{day}T09:00:00-05:00", intent=intent, body_sites=bs or None
        )
        if addon:
            self.procedure(addon[0], addon[1], system=system, when=f"{day}T09:20:00-05:00", intent=intent)
        if before is not None:
            self.pain_score(before, f"{day}T08:30:00-05:00", part_of=p, phase="pre-procedure")
        if after is not None:
            self.pain_score(after, f"{day}T10:30:00-05:00", part_of=p, phase="post-procedure")
        return p

    def egfr(self, value: float, when: str) -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "Observation",
                "id": self._id("lab"),
                "meta": us_core("observation-lab"),
                "status": "final",
                "category": [cc(coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory"))],
                "code": cc(
                    coding(
                        LOINC_URL,
                        "98979-8",
                        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood "
                        "by Creatinine-based formula (CKD-EPI 2021)",
                    ),
                    text="eGFR",
                ),
                "subject": self.subject,
                "effectiveDateTime": when,
                "valueQuantity": {
                    "value": value,
                    "unit": "mL/min/{1.73_m2}",
                    "system": UCUM,
                    "code": "mL/min/{1.73_m2}",
                },
            }
        )

    def allergy(self, rxcui: str, display: str) -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "AllergyIntolerance",
                "id": self._id("allergy"),
                "meta": us_core("allergyintolerance"),
                "clinicalStatus": cc(
                    coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")
                ),
                "verificationStatus": cc(
                    coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed")
                ),
                "type": "intolerance",
                "category": ["medication"],
                "code": cc(coding(RXNORM_OID, rxcui, display), text=display),
                "patient": self.subject,
                "reaction": [{"manifestation": [cc(coding(SNOMED_URL, "235595009", "Gastroesophageal reflux"))]}],
            }
        )

    def attest(self, items: list[str], *, authored: str, revision: str = "2026-05") -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "QuestionnaireResponse",
                "id": self._id("qr"),
                "meta": {"tag": [HTEST]},
                "questionnaire": Q_2026 if revision == "2026-05" else Q_2019,
                "status": "completed",
                "subject": self.subject,
                "authored": authored,
                "author": {"reference": f"Practitioner/{self.practitioner_id}"},
                "item": [{"linkId": i, "answer": [{"valueBoolean": True}]} for i in items],
            }
        )

    # ---------------------------------------------------------------- draft orders
    def order(
        self,
        code: str,
        display: str,
        dos: str,
        *,
        intent: tuple[str, str] | None = DIAGNOSTIC,
        sites: list[Any] | None = None,
        system: str = CPT_URL,
        text: str | None = None,
        note: str | None = None,
        quantity: float | None = None,
        reasons: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        o: dict[str, Any] = {"resourceType": "ServiceRequest", "id": f"{self.p}-order-{len(self.orders) + 1}",
                             "meta": {"tag": [HTEST]}, "status": "draft", "intent": "order",
                             "category": [cc(coding(SNOMED_URL, "387713003", "Surgical procedure"))],
                             "code": cc(coding(system, code, display), text=text or display), "subject": self.subject,
                             "occurrenceDateTime": dos, "authoredOn": "2026-11-20" if dos >= "2026-05-01" else dos,
                             "requester": {"reference": f"Practitioner/{self.practitioner_id}"},
                             "insurance": [{"reference": f"Coverage/{self.coverage_id}"}]}
        if intent:
            o["orderDetail"] = [cc(coding(SNOMED_URL, *intent), text=intent[1])]
        if sites:
            o["bodySite"] = [s if isinstance(s, dict) else {"text": s} for s in sites]
        if note:
            o["note"] = [{"text": note}]
        if quantity is not None:
            o["quantityQuantity"] = {"value": quantity}
        if reasons:
            o["reasonReference"] = [self.ref(r) for r in reasons]
        if self.vendor == "epic":
            o["extension"] = [
                {
                    "url": f"{EPIC_EXT}/order-class",
                    "valueCoding": coding("urn:oid:1.2.840.114350.1.13.0.1.7.10.798268.30", "1", "Normal"),
                }
            ]
        self.orders.append(o)
        return o

    # ---------------------------------------------------------------- output
    def bundles(self) -> tuple[dict[str, Any], dict[str, Any]]:
        def entry(r: dict[str, Any]) -> dict[str, Any]:
            r = dict(r)
            full = r.pop("_fullUrl")
            return {"fullUrl": full, "resource": r} if self.urn_uuid else {"resource": r}

        record = {
            "resourceType": "Bundle",
            "id": f"{self.p}-record",
            "type": "collection",
            "entry": [entry(r) for r in self.entries],
        }
        orders = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in self.orders]}
        return record, orders
