"""Which raw resources can matter to the policy, decided from the raw JSON before any model is built.

Validating a resource with fhir.resources costs ~0.25 ms; a real chart is mostly vital signs, labs, other
problems and other drugs that no criterion reads. A resource that certainly cannot matter is simply not
passed on (never named as skipped, never a refusal); everything else is validated as before.

What "can matter" is derived, never hand-listed: every code of every value set the policy data loads
(`ValueSets`, all names, `descendants` as prefixes), the facet and other interventional CPT codes of the
scope table (scope.toml), plus the codes the engine names in its own constants (PT evaluation codes, the
pain/ADL LOINC codes, our percent relief code), and for drugs the NSAID words the engine text-matches
(`clinical.NSAID_NAMES`). Codes are compared the way the most lenient reader compares them (system as URL
or OID, code stripped, upper-cased, ICD-10 with or without its dot), so a match here is a superset of every
reader's match.

Only the four coded kinds the engine reads by code are ever dropped: Condition, Procedure, Observation and
Medication{Statement,Request,Dispense,Administration}. Every other type (Patient, Coverage, Medication,
AllergyIntolerance, Device, QuestionnaireResponse, ServiceRequest, CarePlan, ...) is kept. Within the four,
anything odd is kept so validation judges it: no code, a text-only code, a coding without a system or with
a non-string code, an Observation with `partOf` (a relief score's link to its block), a drug given by
`medicationReference` (the Medication decides), and a Procedure a kept Observation's `partOf` names.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cds_service.evaluation.clinical import (
    EVALUATION_CPT,
    INTERFERENCE_LOINC,
    NSAID_NAMES,
    PAIN_SCORE_CODES,
    PERCENT_RELIEF_CODES,
)
from cds_service.evaluation.record import concept_text, type_and_id
from cds_service.fhir_access.normalize import NormalizedBatch, normalize_resources
from cds_service.policy.conventions import CPT, FACET_CDS_CODES, LOINC, canonical_system
from cds_service.policy.scope import shipped_scope
from cds_service.policy.valuesets import ValueSets

# The element holding the code the engine reads each droppable type by.
CODE_ELEMENT = {
    "Condition": "code",
    "Procedure": "code",
    "Observation": "code",
    "MedicationStatement": "medicationCodeableConcept",
    "MedicationRequest": "medicationCodeableConcept",
    "MedicationDispense": "medicationCodeableConcept",
    "MedicationAdministration": "medicationCodeableConcept",
}
_SEEN_MAX = 50_000
_DRUG_TYPES = frozenset(t for t, element in CODE_ELEMENT.items() if element == "medicationCodeableConcept")


def code_key(code: str) -> str:
    """The most lenient spelling of a code: stripped, upper-cased, no dots (ICD-10 `M47.816` = `M47816`)."""
    return code.strip().replace(".", "").upper()


@dataclass(frozen=True)
class RelevantCodes:
    """Per code system (canonical URL): the codes any reader can match, and `descendants` prefixes."""

    exact: Mapping[str, frozenset[str]]
    prefixes: Mapping[str, tuple[str, ...]]
    # (system, code) as sent -> verdict: a chart repeats a few dozen codes, so most look-ups are one dict hit
    _seen: dict[tuple[str, str], bool] = field(default_factory=dict, compare=False, hash=False, repr=False)

    def matches(self, system: str, code: str) -> bool:
        verdict = self._seen.get((system, code))
        if verdict is None:
            url = canonical_system(system) or ""
            key = code_key(code)
            verdict = key in self.exact.get(url, ()) or any(key.startswith(p) for p in self.prefixes.get(url, ()))
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            self._seen[(system, code)] = verdict
        return verdict

    def codes_of(self, system: str) -> frozenset[str]:
        return self.exact.get(system, frozenset())


def engine_constant_codes() -> dict[str, set[str]]:
    """The codes the engine reads by its own constants rather than by a value set."""
    scope = shipped_scope()  # the facet codes and other interventional codes of the policy data (scope.toml)
    return {
        CPT: {*scope.codes, *scope.other_interventional, *EVALUATION_CPT},
        LOINC: {*PAIN_SCORE_CODES, *INTERFERENCE_LOINC},
        FACET_CDS_CODES: set(PERCENT_RELIEF_CODES),
    }


@lru_cache(maxsize=8)  # one per loaded ValueSets (there is one per running service)
def relevant_codes(valuesets: ValueSets) -> RelevantCodes:
    """Every code of any value set of the policy data, plus the engine's named codes.

    Any value set, not only those a criterion of one revision names: a code listed anywhere is kept, which
    can only keep too much, never drop what a criterion reads.
    """
    exact: dict[str, set[str]] = {}
    prefixes: dict[str, list[str]] = {}
    for system, codes in engine_constant_codes().items():
        exact.setdefault(system, set()).update(code_key(c) for c in codes)
    for name in valuesets.names():
        for entry in valuesets.entries(name):
            exact.setdefault(entry.system, set()).add(code_key(entry.code))
            if entry.descendants:
                prefixes.setdefault(entry.system, []).append(code_key(entry.code))
    return RelevantCodes(
        {system: frozenset(codes) for system, codes in exact.items()},
        {system: tuple(sorted(set(p))) for system, p in prefixes.items()},
    )


# The policy data names its Observation value sets `obs-*` (pain scales, ADL interference, relief) and
# `lab-*` (eGFR); the others hold diagnoses, drugs, procedures and document codes (`imaging-*`).
OBSERVATION_VALUESET_PREFIXES = ("obs-", "lab-")


def observation_query_codes(valuesets: ValueSets) -> tuple[tuple[str, str], ...]:
    """(system, code) of every code an Observation is read by, as spelt in the data: our own codes first
    (percent relief leading), then LOINC, sorted. For the `code=` OR list of the Observation search: the
    engine's named codes and the codes of the Observation value sets. Narrower than `relevant_codes` (which
    also keeps, say, an imaging-report LOINC code on an Observation): each token costs the FHIR server time
    (SEKMET: ~0.3 ms a token on a 1,000-resource chart), and no criterion reads an Observation by those."""
    spelt: dict[str, set[str]] = {system: set(codes) for system, codes in engine_constant_codes().items()}
    for name in valuesets.names():
        if not name.startswith(OBSERVATION_VALUESET_PREFIXES):
            continue
        for entry in valuesets.entries(name):
            spelt.setdefault(entry.system, set()).add(entry.code.strip())
    ours = sorted(spelt[FACET_CDS_CODES], key=lambda code: (code not in PERCENT_RELIEF_CODES, code))
    return (*((FACET_CDS_CODES, code) for code in ours), *((LOINC, code) for code in sorted(spelt[LOINC])))


def is_relevant(raw: Any, codes: RelevantCodes) -> bool:
    """False only for a resource that certainly cannot matter; dict look-ups only (and a regex for drugs)."""
    if not isinstance(raw, dict):
        return True
    resource_type = raw.get("resourceType")
    element = CODE_ELEMENT.get(resource_type) if isinstance(resource_type, str) else None
    if element is None:
        return True
    if resource_type == "Observation" and "partOf" in raw:
        return True
    is_drug = resource_type in _DRUG_TYPES
    if is_drug and "medicationReference" in raw:
        return True  # the Medication's code (or the reference's display) decides: keep
    return _concept_may_match(raw.get(element), codes, is_drug)


def _concept_may_match(concept: Any, codes: RelevantCodes, is_drug: bool) -> bool:
    if not isinstance(concept, dict):
        return True  # missing (validation names it when required) or an odd shape: keep
    coding = concept.get("coding")
    if isinstance(coding, dict):  # a single object where FHIR wants an array: normalisation accepts it
        coding = [coding]
    if not isinstance(coding, list) or not coding:
        return not is_drug or _names_a_drug(concept)  # text only: a drug is read by its words, the rest kept
    for c in coding:
        if not isinstance(c, dict):
            return True
        system, code = c.get("system"), c.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            return True  # no system (CPT-shaped codes count without one), or an odd code: keep
        if codes.matches(system, code):
            return True
    return is_drug and _names_a_drug(concept)


def _names_a_drug(concept: dict[str, Any]) -> bool:
    """The engine's text fallback for drugs: an NSAID name in the text or a display (clinical.NsaidMatcher
    reads `concept_text`: the text and every display). Anything but a string there is kept: the engine
    would read its str()."""
    coding = concept.get("coding")
    texts = [concept.get("text")] + [c.get("display") for c in (coding if isinstance(coding, list) else [coding])
                                     if isinstance(c, dict)]
    for text in texts:
        if text is None:
            continue
        if not isinstance(text, str):
            return True
        verdict = _drug_words_seen.get(text)
        if verdict is None:
            verdict = NSAID_NAMES.search(text) is not None
            if len(_drug_words_seen) >= _SEEN_MAX:
                _drug_words_seen.clear()
            _drug_words_seen[text] = verdict
        if verdict:
            return True
    # the engine joins the parts with spaces: a name could only span two parts if it held a space
    return NSAID_NAMES.search(concept_text(concept)) is not None if _NAMES_WITH_SPACES else False


_drug_words_seen: dict[str, bool] = {}
_NAMES_WITH_SPACES = " " in NSAID_NAMES.pattern or "\\s" in NSAID_NAMES.pattern


def relevant_only(raws: Iterable[Any], valuesets: ValueSets) -> list[Any]:
    """The resources to validate: `raws` without those that certainly cannot matter, in order."""
    codes = relevant_codes(valuesets)
    resources = raws if isinstance(raws, list) else list(raws)
    keep = [is_relevant(raw, codes) for raw in resources]
    dropped_procedures = [i for i, k in enumerate(keep) if not k and resources[i].get("resourceType") == "Procedure"]
    if dropped_procedures:
        named = _procedures_named_by_part_of(raw for raw, k in zip(resources, keep, strict=True) if k)
        for i in dropped_procedures:
            if f"Procedure/{resources[i].get('id')}" in named:
                keep[i] = True
    return [raw for raw, k in zip(resources, keep, strict=True) if k]


def _procedures_named_by_part_of(kept: Iterable[Any]) -> set[str]:
    """`Procedure/{id}` of every `partOf` reference of a kept Observation (absolute, versioned or padded too)."""
    named: set[str] = set()
    for raw in kept:
        if not isinstance(raw, dict) or raw.get("resourceType") != "Observation":
            continue
        part_of = raw.get("partOf")
        for ref in part_of if isinstance(part_of, list) else [part_of]:
            reference = ref.get("reference") if isinstance(ref, dict) else None
            key = type_and_id(reference) if isinstance(reference, str) else None  # as the engine resolves it
            if key is not None:
                named.add(key)
    return named


def normalize_relevant(raws: Iterable[Any], valuesets: ValueSets) -> NormalizedBatch:
    """What the hook use cases validate: only the resources that can matter (see module docstring)."""
    return normalize_resources(relevant_only(raws, valuesets))
