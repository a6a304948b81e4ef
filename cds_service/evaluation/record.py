"""A read-only view of one patient's FHIR resources (plain JSON dicts), with the small accessors checks need."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

from cds_service.evaluation.dates import parse_date, parse_instant
from cds_service.policy.conventions import CODE_SYSTEM_OIDS

Resource = Mapping[str, Any]

INACTIVE_CLINICAL = {"inactive", "resolved", "remission"}
REFUTED = {"refuted", "entered-in-error"}


def one_or_many(value: Any) -> list[Any]:
    """A FHIR element that may be one or repeated, as a list (None: empty). Not fhir_access.json_values.as_list,
    which drops a non-list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def codings(concept: Any) -> list[Mapping[str, Any]]:
    """Every coding of a CodeableConcept (or a list of them), tolerating singletons and junk.

    Every criterion reads codes through here, so a system sent as its HL7 OID (contract §4 "Codes") is
    given back as the URL the value sets use: one place, and no criterion can miss an OID-coded fact.
    """
    # JSON objects are dicts: `isinstance(x, dict)` is several times cheaper than an ABC check on this hot path.
    if isinstance(concept, dict):
        coding = concept.get("coding")
        if isinstance(coding, list):
            return [_canonical(c) for c in coding if isinstance(c, dict)]
        return [_canonical(coding)] if isinstance(coding, dict) else []
    out: list[Mapping[str, Any]] = []
    for cc in one_or_many(concept):
        if isinstance(cc, dict):
            out.extend(_canonical(c) for c in one_or_many(cc.get("coding")) if isinstance(c, dict))
    return out


def _canonical(coding: dict[str, Any]) -> dict[str, Any]:
    """The coding with its system as the URL; the same dict (no copy) when it already is one."""
    system = coding.get("system")
    if isinstance(system, str) and "urn:oid:" in system:  # cheap test first: this runs for every coding read
        url = CODE_SYSTEM_OIDS.get(system.strip())
        if url is not None:
            return {**coding, "system": url}
    return coding


def concept_text(concept: Any) -> str:
    """Text and displays of a CodeableConcept, lower-cased, for display-text fallbacks."""
    parts = []
    for cc in one_or_many(concept):
        if isinstance(cc, Mapping):
            parts.append(str(cc.get("text") or ""))
            parts.extend(str(c.get("display") or "") for c in codings(cc))
    return " ".join(p for p in parts if p).lower()


def concept_label(concept: Any) -> str:
    """The one name a person reads for a CodeableConcept: its text, else its first display, as recorded
    (concept_text joins and lower-cases them all for matching, which reads as "naproxen naproxen")."""
    for cc in one_or_many(concept):
        if isinstance(cc, Mapping):
            if str(cc.get("text") or "").strip():
                return str(cc["text"]).strip()
            for c in codings(cc):
                if str(c.get("display") or "").strip():
                    return str(c["display"]).strip()
    return ""


def status_code(concept: Any) -> str | None:
    for c in codings(concept):
        if c.get("code"):
            return str(c["code"])
    return None


def type_and_id(reference: str) -> str | None:
    """`Type/id` of a relative or absolute reference, `/_history/n` and surrounding whitespace aside."""
    parts = reference.strip().split("/_history/", 1)[0].rstrip("/").split("/")
    return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 2 else None


def reference_id(reference: Any, resource_type: str) -> str | None:
    """`Type/id` (relative or absolute, maybe `/_history/n`, surrounding whitespace aside, as `Record.resolve`
    reads it) → id when of the given type."""
    if isinstance(reference, Mapping):
        reference = reference.get("reference")
    if not isinstance(reference, str):
        return None
    parts = reference.strip().rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == resource_type:
        return parts[-1]
    if len(parts) >= 4 and parts[-2] == "_history" and parts[-4] == resource_type:
        return parts[-3]
    return None


def performed_date(procedure: Resource) -> date | None:
    period = procedure.get("performedPeriod") or {}
    return parse_date(procedure.get("performedDateTime")) or parse_date(
        period.get("start") if isinstance(period, Mapping) else None
    )


def performed_instant(procedure: Resource):
    period = procedure.get("performedPeriod") or {}
    return parse_instant(procedure.get("performedDateTime")) or parse_instant(
        period.get("start") if isinstance(period, Mapping) else None
    )


def effective_date(resource: Resource) -> date | None:
    period = resource.get("effectivePeriod") or {}
    return (
        parse_date(resource.get("effectiveDateTime"))
        or parse_date(resource.get("effectiveInstant"))
        or parse_date(period.get("start") if isinstance(period, Mapping) else None)
        or parse_date(resource.get("issued"))
    )


def effective_instant(resource: Resource):
    period = resource.get("effectivePeriod") or {}
    return (
        parse_instant(resource.get("effectiveDateTime"))
        or parse_instant(resource.get("effectiveInstant"))
        or parse_instant(period.get("start") if isinstance(period, Mapping) else None)
    )


def numeric_value(observation: Resource) -> float | None:
    quantity = observation.get("valueQuantity")
    if isinstance(quantity, Mapping) and isinstance(quantity.get("value"), (int, float)):
        return float(quantity["value"])
    if isinstance(observation.get("valueInteger"), int):
        return float(observation["valueInteger"])
    return None


def condition_onset(condition: Resource) -> date | None:
    period = condition.get("onsetPeriod") or {}
    return (
        parse_date(condition.get("onsetDateTime"))
        or parse_date(period.get("start") if isinstance(period, Mapping) else None)
        or parse_date(condition.get("recordedDate"))
    )


def condition_is_active(condition: Resource, on: date) -> bool:
    """Active at the date: not refuted, not resolved, begun by then and not abated before it."""
    if status_code(condition.get("verificationStatus")) in REFUTED:
        return False
    clinical = status_code(condition.get("clinicalStatus"))
    abated = parse_date(condition.get("abatementDateTime")) or parse_date(
        (condition.get("abatementPeriod") or {}).get("end")
        if isinstance(condition.get("abatementPeriod"), Mapping)
        else None
    )
    if clinical in INACTIVE_CLINICAL and (abated is None or abated <= on):
        return False
    if abated is not None and abated <= on:
        return False
    onset = condition_onset(condition)
    return onset is None or onset <= on


class PatientRecord:
    """Resources by type; evidence dated after the date of service is the caller's to ignore."""

    def __init__(self, resources: Iterable[Resource]):
        self._by_type: dict[str, list[Resource]] = defaultdict(list)
        self._by_ref: dict[str, Resource] | None = None  # built on first get(): most evaluations never need it
        self._coded: dict[tuple[str, frozenset[str]], list[Resource]] = {}
        self._part_of: dict[str, list[Resource]] | None = None
        for r in resources:
            rtype = r.get("resourceType")
            if isinstance(rtype, str):
                self._by_type[rtype].append(r)

    def of_type(self, resource_type: str) -> list[Resource]:
        return self._by_type.get(resource_type, [])

    def observations_coded(self, system: str, codes: frozenset[str]) -> list[Resource]:
        """Observations with a coding of `system` in `codes` (indexed once per record)."""
        key = (system, codes)
        if key not in self._coded:
            self._coded[key] = [
                o for o in self.of_type("Observation")
                if any(c.get("system") == system and c.get("code") in codes for c in codings(o.get("code")))
            ]
        return self._coded[key]

    def part_of(self, procedure_id: str) -> list[Resource]:
        """Observations whose `partOf` points at the Procedure (indexed once per record)."""
        if self._part_of is None:
            index: dict[str, list[Resource]] = defaultdict(list)
            for o in self.of_type("Observation"):
                for ref in one_or_many(o.get("partOf")):
                    target = self.resolve(ref, o)
                    if target is not None and target.get("resourceType") == "Procedure" and target.get("id"):
                        index[str(target["id"])].append(o)
                    elif (target_id := reference_id(ref, "Procedure")) is not None:
                        index[target_id].append(o)  # a Procedure not in the record: still the link it names
            self._part_of = index
        return self._part_of.get(procedure_id, [])

    def get(self, reference: str) -> Resource | None:
        if self._by_ref is None:
            self._by_ref = {f"{t}/{r['id']}": r for t, rs in self._by_type.items() for r in rs if r.get("id")}
        return self._by_ref.get(reference)

    def resolve(self, reference: Any, source: Resource | None = None) -> Resource | None:
        """The resource a Reference names, within the record (contract §4 "Codes").

        `#id` is a resource contained in `source`; `Type/id` and absolute `.../Type/id[/_history/v]` are
        record resources. `urn:uuid:` full URLs of a prefetched Bundle were rewritten to `Type/id` when
        the record was gathered (fhir_access/bundle_links.py). None when the target is not in the record.
        """
        if isinstance(reference, Mapping):
            reference = reference.get("reference")
        if not isinstance(reference, str) or not reference.strip():
            return None
        reference = reference.strip()
        if reference.startswith("#"):
            wanted = reference[1:]
            contained = source.get("contained") if isinstance(source, Mapping) else None
            return next((r for r in one_or_many(contained) if isinstance(r, dict) and r.get("id") == wanted), None)
        key = type_and_id(reference)
        return self.get(key) if key is not None else None

    def __iter__(self) -> Iterator[Resource]:
        for resources in self._by_type.values():
            yield from resources

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_type.values())
