"""Which raw resources can matter to the policy, decided from the raw JSON before any model is built.

Validating a resource with fhir.resources costs ~0.25 ms; a real chart is mostly vital signs and labs that
no criterion reads. A resource that certainly cannot matter is simply not passed on (never named as
skipped, never a refusal); everything else is validated as before. Conservative on purpose: only an
Observation is ever dropped, and only when every coding is LOINC (URL or OID), none of its codes is one
the engine reads, and it has no `partOf` (the link a relief score has to its block). Text-only,
non-LOINC, odd-shaped or malformed Observations are kept, so they are validated and, if bad, named.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cds_service.fhir_access.normalize import NormalizedBatch, normalize_resources
from cds_service.policy.conventions import ADL_INTERFERENCE_LOINC, LOINC, PAIN_SCORE_LOINC, canonical_system
from cds_service.policy.valuesets import ValueSets


@dataclass(frozen=True)
class ObservationCodes:
    """The LOINC codes the engine reads Observations by: exact codes and `descendants` prefixes."""

    exact: frozenset[str]
    prefixes: tuple[str, ...] = ()

    def __contains__(self, code: str) -> bool:
        return code in self.exact or any(code.startswith(p) for p in self.prefixes)


@lru_cache(maxsize=8)  # one per loaded ValueSets (there is one per running service)
def observation_codes(valuesets: ValueSets) -> ObservationCodes:
    """Every LOINC code in any value set of the policy data, plus the named codes of policy/conventions.py.

    Any value set, not only those naming Observations: a LOINC code listed anywhere is kept, which can
    only keep too much, never drop what a criterion reads.
    """
    exact = {PAIN_SCORE_LOINC, *ADL_INTERFERENCE_LOINC}
    prefixes: list[str] = []
    for name in valuesets.names():
        for entry in valuesets.entries(name):
            if entry.system == LOINC:
                exact.add(entry.code)
                if entry.descendants:
                    prefixes.append(entry.code)
    return ObservationCodes(frozenset(exact), tuple(prefixes))


def is_relevant(raw: Any, codes: ObservationCodes) -> bool:
    """False only for a resource that certainly cannot matter; dict look-ups only."""
    if not isinstance(raw, dict) or raw.get("resourceType") != "Observation" or "partOf" in raw:
        return True
    concept = raw.get("code")
    if not isinstance(concept, dict):
        return True  # no code, or a shape normalisation must judge
    coding = concept.get("coding")
    if isinstance(coding, dict):  # a single object where FHIR wants an array: normalisation accepts it
        coding = [coding]
    if not isinstance(coding, list) or not coding:
        return True  # text-only: keep
    for c in coding:
        if not isinstance(c, dict):
            return True
        system, code = c.get("system"), c.get("code")
        if not isinstance(system, str) or canonical_system(system) != LOINC:
            return True  # no system, or not LOINC: keep
        if not isinstance(code, str) or code.strip() in codes or code in codes:
            return True
    return False


def relevant_only(raws: Iterable[Any], valuesets: ValueSets) -> list[Any]:
    """The resources to validate: `raws` without those that certainly cannot matter, in order."""
    codes = observation_codes(valuesets)
    return [raw for raw in raws if is_relevant(raw, codes)]


def normalize_relevant(raws: Iterable[Any], valuesets: ValueSets) -> NormalizedBatch:
    """What the hook use cases validate: only the resources that can matter (see module docstring)."""
    return normalize_resources(relevant_only(raws, valuesets))
