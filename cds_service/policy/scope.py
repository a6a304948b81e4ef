"""The scope table (policy data `scope.toml`): which procedure codes the policy answers for, and what each means.

Loaded strictly like a revision file: an unknown family, zone or role, a code given twice, or a fluoroscopic
equivalent that is not itself in the table fails at start-up with the file named.

The engine and the cards read the shipped table (`shipped_scope()`); `PolicyLibrary.load` validates the table
of the directory it loads, which is the shipped one in every deployment.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from cds_service.policy.errors import PolicyDataError
from cds_service.policy.terms import CodeRole, Family, Zone

# The CPT shape of every code here: five digits, or four and a Category III "T" (one rule, also for cards).
CPT_SHAPE = re.compile(r"^(\d{5}|\d{4}T)$")
HCPCS_OR_CPT = re.compile(r"^(\d{5}|\d{4}T|[A-Z]\d{4})$")
SHIPPED_SCOPE_FILE = Path(__file__).resolve().parent / "data" / "cp-mp-171" / "scope.toml"
CODE_KEYS = frozenset({"code", "family", "zone", "role", "display", "cpt_display", "fluoroscopic"})


@dataclass(frozen=True)
class FacetCode:
    code: str
    family: Family
    zone: Zone
    role: CodeRole
    display: str
    cpt_display: str | None = None  # the CPT descriptor, written into a proposed order
    fluoroscopic: str | None = None  # for an ultrasound code: the same injection under fluoroscopy/CT


@dataclass(frozen=True)
class ScopeTable:
    codes: Mapping[str, FacetCode]
    other_interventional: frozenset[str]

    def fluoroscopic_equivalent(self, code: str) -> FacetCode | None:
        facet = self.codes.get(code)
        return self.codes[facet.fluoroscopic] if facet and facet.fluoroscopic else None


def load_scope_table(path: Path) -> ScopeTable:
    def fail(message: str) -> PolicyDataError:
        return PolicyDataError(f"{path.name}: {message}")

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"not valid TOML, or a key is given twice ({exc})") from None
    except OSError as exc:
        raise fail(f"cannot be read ({exc.strerror})") from None
    unknown = set(data) - {"code", "other_interventional"}
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    others = data.get("other_interventional", [])
    if not isinstance(others, list) or not all(isinstance(c, str) and HCPCS_OR_CPT.match(c) for c in others):
        raise fail("'other_interventional' must be a list of CPT/HCPCS codes")
    rows = data.get("code")
    if not isinstance(rows, list) or not rows:
        raise fail("no [[code]] entries")
    codes: dict[str, FacetCode] = {}
    for i, row in enumerate(rows):
        where = f"code #{i + 1} ({row.get('code', '?')})"
        bad = set(row) - CODE_KEYS
        if bad:
            raise fail(f"{where}: unknown keys {sorted(bad)}")
        code = row.get("code")
        if not isinstance(code, str) or not CPT_SHAPE.match(code):
            raise fail(f"{where}: 'code' must be a CPT code")
        if code in codes:
            raise fail(f"{where}: code {code} is given twice")
        for key in ("display", "cpt_display", "fluoroscopic"):
            if key in row and (not isinstance(row[key], str) or not row[key].strip()):
                raise fail(f"{where}: {key!r} must be a non-empty string")
        if "display" not in row:
            raise fail(f"{where}: 'display' is missing")
        try:
            family, zone, role = Family(row.get("family")), Zone(row.get("zone")), CodeRole(row.get("role"))
        except ValueError as exc:
            raise fail(f"{where}: {exc}") from None
        codes[code] = FacetCode(code, family, zone, role, row["display"], row.get("cpt_display"),
                                row.get("fluoroscopic"))
    overlap = sorted(set(others) & set(codes))
    if overlap:
        raise fail(f"'other_interventional' lists in-scope codes {overlap}")
    for facet in codes.values():
        target = codes.get(facet.fluoroscopic or "")
        if facet.fluoroscopic and (target is None or target.family is not Family.INJECTION or not target.cpt_display):
            raise fail(f"code {facet.code}: fluoroscopic {facet.fluoroscopic} must be an injection code of this "
                       "table with a cpt_display")
    return ScopeTable(MappingProxyType(codes), frozenset(others))


@lru_cache(maxsize=1)
def shipped_scope() -> ScopeTable:
    """The scope table that ships with the service (loaded once; a malformed file fails the first import)."""
    return load_scope_table(SHIPPED_SCOPE_FILE)
