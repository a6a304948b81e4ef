"""Value sets: named lists of codes, with ICD-10-CM/ATC descendant matching.

Entries marked `verified: "no"` stay in the data file for review but are not used for matching.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.errors import ConfigurationError
from cds_service.policy.conventions import (
    ATC,
    CPT,
    FACET_CDS_CODES,
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    UCUM,
    canonical_system,
)

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"

# What a well-formed code looks like in each system we accept; anything else fails loudly at start-up.
CODE_SHAPES: Mapping[str, re.Pattern[str]] = {
    CPT: re.compile(r"^(\d{4}[0-9A-Z]|\d{2})$"),  # 5-character CPT, or a 2-digit modifier
    HCPCS: re.compile(r"^[A-Z]\d{4}$|^[A-Z]{2}$"),
    ICD10CM: re.compile(r"^[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?$"),
    SNOMED: re.compile(r"^\d{6,18}$"),
    LOINC: re.compile(r"^\d{1,7}-\d$"),
    RXNORM: re.compile(r"^\d{1,9}$"),
    ATC: re.compile(r"^[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?$"),
    UCUM: re.compile(r"^\S+$"),
    FACET_CDS_CODES: re.compile(r"^[a-z0-9-]+$"),
}
ENTRY_KEYS = frozenset({"system", "code", "display", "verified", "match", "region", "role", "ingredient", "tty", "atc"})
VERIFIED_VALUES = frozenset({"yes", "secondary", "no", "n/a (proposed local code)"})


class ValueSetError(ConfigurationError, ValueError):
    pass


@dataclass(frozen=True)
class ValueSetEntry:
    system: str
    code: str
    display: str
    descendants: bool
    attributes: Mapping[str, str]


def _normalise_icd(code: str) -> str:
    return code.replace(".", "").upper()


class ValueSets:
    """Membership tests by value-set name. Build with `ValueSets.from_json(data)`."""

    def __init__(self, sets: Mapping[str, tuple[ValueSetEntry, ...]]):
        self._sets = dict(sets)
        self._exact: dict[str, set[tuple[str, str]]] = {}
        self._prefixes: dict[str, list[tuple[str, str]]] = {}
        for name, entries in self._sets.items():
            exact, prefixes = set(), []
            for e in entries:
                key = _normalise_icd(e.code) if e.system == ICD10CM else e.code
                exact.add((e.system, key))
                if e.descendants:
                    prefixes.append((e.system, key))
            self._exact[name] = exact
            self._prefixes[name] = prefixes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ValueSets:
        sets: dict[str, tuple[ValueSetEntry, ...]] = {}
        for name, rows in data.items():
            if name.startswith("_"):
                continue
            if not isinstance(rows, list) or not rows:
                raise ValueSetError(f"value set {name!r} must be a non-empty list")
            entries = []
            for i, row in enumerate(rows):
                where = f"value set {name!r} entry {i}"
                if not isinstance(row, dict):
                    raise ValueSetError(f"{where}: not an object")
                unknown = set(row) - ENTRY_KEYS
                if unknown:
                    raise ValueSetError(f"{where}: unknown keys {sorted(unknown)}")
                system, code = row.get("system"), row.get("code")
                shape = CODE_SHAPES.get(system or "")
                if shape is None or not isinstance(system, str):  # a known system is a str key of CODE_SHAPES
                    raise ValueSetError(f"{where}: unknown code system {system!r}")
                if not isinstance(code, str) or not shape.match(code):
                    raise ValueSetError(f"{where}: {code!r} is not a valid code of {system}")
                verified = row.get("verified", "yes")
                if verified not in VERIFIED_VALUES:
                    raise ValueSetError(f"{where}: verified must be one of {sorted(VERIFIED_VALUES)}")
                if row.get("match") not in (None, "descendants"):
                    raise ValueSetError(f"{where}: match must be 'descendants' when present")
                if verified == "no":
                    continue  # kept in the file for review, never matched (clinical-mapping §10.1)
                attributes = {k: str(v) for k, v in row.items() if k in ("region", "role", "ingredient", "tty", "atc")}
                entries.append(
                    ValueSetEntry(
                        system, code, str(row.get("display", "")), row.get("match") == "descendants", attributes
                    )
                )
            sets[name] = tuple(entries)
        return cls(sets)

    def names(self) -> frozenset[str]:
        return frozenset(self._sets)

    def entries(self, name: str) -> tuple[ValueSetEntry, ...]:
        return self._sets[name]

    def contains(self, name: str, system: str | None, code: str | None) -> bool:
        if not system or not code:
            return False
        system = canonical_system(system)  # an OID-coded fact matches like the URL (contract §4 "Codes")
        code = code.strip()
        key = _normalise_icd(code) if system == ICD10CM else code
        if (system, key) in self._exact[name]:
            return True
        return any(system == s and key.startswith(prefix) for s, prefix in self._prefixes[name])

    def matching(self, names: Iterable[str], codings: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        """The first coding that is in any of the named value sets, or None."""
        names = tuple(names)
        for coding in codings:
            for name in names:
                if self.contains(name, coding.get("system"), coding.get("code")):
                    return coding
        return None
