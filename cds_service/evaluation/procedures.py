"""Facet procedure codes, and how draft orders become procedures (primary + add-ons = one procedure).

What each CPT code means (family, zone, how it counts levels) is policy data: scope.toml, read by
policy/scope.py (from the policy's coding tables and contract §4 "In scope"). Here: reading orders.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from typing import Any

from cds_service.evaluation.dates import parse_date
from cds_service.evaluation.record import codings, concept_text, one_or_many
from cds_service.policy.conventions import (
    CERVICAL_SPINE_STRUCTURE,
    CPT,
    DIAGNOSTIC_INTENT,
    LUMBAR_SPINE_STRUCTURE,
    SNOMED,
    THERAPEUTIC_INTENT,
    THORACIC_SPINE_STRUCTURE,
    canonical_system,
)
from cds_service.policy.scope import CPT_SHAPE, FacetCode, shipped_scope
from cds_service.policy.terms import INJECTION_FAMILIES, CodeRole, Family, Intent, Region

Resource = Mapping[str, Any]


# The in-scope codes come from the policy data (policy/data/cp-mp-171/scope.toml, `shipped_scope()`), read on
# first use: the library loads the same file at start-up, so a malformed table fails there, with its name.

# Text is the last resort (codes first): whole words, and a negation just before the word cancels it.
PULSED_RF_TEXT = re.compile(r"\bpulsed\b", re.I)
NEGATED_PULSED = re.compile(r"\b(?:not|no|non|without|never)\s*[-\s]?\s*pulsed\b", re.I)
FACET_TEXT = re.compile(r"\b(?:facets?|medial[-\s]branch(?:es)?|zygapophys\w*)\b", re.I)
# One spinal level: "L4-L5", "L4-5", "L4/5", "L5-S1", "C5–C6", or a single segment "T7" / "L4".
LEVEL_TEXT = re.compile(r"(?<![A-Za-z0-9])([CTLS])\s?(\d{1,2})(?:\s*[-–/]\s*([CTLS])?\s?(\d{1,2}))?(?![0-9])", re.I)
NERVE_TEXT = re.compile(r"\b(?:medial[-\s]branch(?:es)?|nerves?|rami|ramus|MBB?)\b", re.I)
LEFT, RIGHT, BOTH = "left", "right", "bilateral"
SIDE_WORDS = re.compile(r"\b(left|right|bilateral|bilat|lt|rt)\b", re.I)
# SNOMED laterality qualifiers and CPT modifiers LT / RT / 50.
SIDE_CODES = {"7771000": LEFT, "24028007": RIGHT, "51440002": BOTH, "LT": LEFT, "RT": RIGHT, "50": BOTH}


def names_pulsed_rf(text: str) -> bool:
    """True when the text says pulsed RF in so many words ("not pulsed", "non-pulsed" do not count)."""
    return bool(PULSED_RF_TEXT.search(NEGATED_PULSED.sub(" ", text)))


def is_cpt_coding(coding: Mapping[str, Any]) -> bool:
    """A CPT coding: system CPT (its OID too, contract §4 "Codes"), or no system and a CPT-shaped code."""
    system = canonical_system(coding.get("system"))
    code = str(coding.get("code") or "").strip().upper()
    return system == CPT or (not system and bool(CPT_SHAPE.match(code)))


def cpt_codes(concept: Any) -> list[str]:
    """CPT codes of a CodeableConcept; a coding with no system but a CPT-shaped code counts too."""
    return [str(c.get("code") or "").strip().upper() for c in codings(concept) if is_cpt_coding(c)]


def is_other_interventional(resource: Resource) -> bool:
    """Another interventional spine/pain procedure (scope table): a second procedure at the same visit."""
    return bool(set(cpt_codes(resource.get("code"))) & shipped_scope().other_interventional)


def order_text(order: Resource) -> str:
    parts = [concept_text(order.get("code")), concept_text(order.get("orderDetail"))]
    parts += [str(n.get("text") or "") for n in one_or_many(order.get("note")) if isinstance(n, Mapping)]
    return " ".join(parts).lower()


def facet_code_of(order: Resource) -> FacetCode | None:
    """The in-scope facet code of an order or Procedure, or None (64999 only when it names pulsed facet RF)."""
    for code in cpt_codes(order.get("code")):
        fc = shipped_scope().codes.get(code)
        if fc is None:
            continue
        if code == "64999":
            text = order_text(order)
            if not (names_pulsed_rf(text) and FACET_TEXT.search(text)):
                continue
        return fc
    return None


def stated_intent(resource: Resource) -> Intent | None:
    """'diagnostic' / 'therapeutic' from SNOMED intent codes in orderDetail or category."""
    for c in codings(resource.get("orderDetail")) + codings(resource.get("category")):
        if c.get("system") in (SNOMED, None) and c.get("code") == DIAGNOSTIC_INTENT:
            return Intent.DIAGNOSTIC
        if c.get("system") in (SNOMED, None) and c.get("code") == THERAPEUTIC_INTENT:
            return Intent.THERAPEUTIC
    return None


def levels_in_text(text: str) -> list[str]:
    """Every level one text names, in order: "L3-L4, L4-L5 and L5-S1" gives three; "L4-5" is "L4-L5".

    Joints ("X-Y") are what count. Single segments ("L3 and L4 medial branches") name nerves when the text
    says so: consecutive nerves in a run are one joint between each pair (two nerves = one joint, contract §4
    "Levels"), named by the nerves ("L3+L4 medial branches") rather than by an anatomical guess.
    """
    joints: list[str] = []
    singles: list[tuple[str, int]] = []
    for first, n1, second, n2 in LEVEL_TEXT.findall(text):
        lo, hi, upper, lower = int(n1), int(n2 or 0), first.upper(), (second or first).upper()
        if n2 and upper == lower and 1 < hi - lo <= 4:  # a span "L3-L5" names the joints in it
            joints.extend(f"{upper}{k}-{upper}{k + 1}" for k in range(lo, hi))
        elif n2:
            joints.append(f"{upper}{lo}-{lower}{hi}")
        else:
            singles.append((first.upper(), int(n1)))
    if joints or not singles:
        return list(dict.fromkeys(joints))
    singles = sorted(set(singles), key=lambda s: ("CTLS".index(s[0]), s[1]))
    if not NERVE_TEXT.search(text) or len(singles) == 1:
        return [f"{letter}{n}" for letter, n in singles]
    out: list[str] = []
    for a, b in pairwise(singles):
        if a[0] == b[0] and b[1] == a[1] + 1:
            out.append(f"{a[0]}{a[1]}+{b[0]}{b[1]} medial branches")
    return out or [f"{letter}{n}" for letter, n in singles]


def site_levels(site: Any) -> list[str]:
    """Levels one bodySite names: its text, else the first coding display that names any."""
    if not isinstance(site, Mapping):
        return []
    for text in [str(site.get("text") or "")] + [str(c.get("display") or "") for c in codings(site)]:
        found = levels_in_text(text)
        if found:
            return found
    return []


def level_names(body_sites: Any) -> list[str]:
    """Distinct spinal levels named in bodySite (coding display or text): 'L4-L5', 'C5-C6', 'L5-S1', 'T7'.

    Left, right and bilateral at one level are one level: the side words are not part of the name.
    """
    found: list[str] = []
    for site in one_or_many(body_sites):
        for name in site_levels(site):
            if name not in found:
                found.append(name)
    return found


def _codes_anywhere(value: Any) -> list[str]:
    """Every `code` in a JSON value (codings nested in bodySite, orderDetail, extensions)."""
    if isinstance(value, Mapping):
        out = [str(value["code"]).upper()] if isinstance(value.get("code"), str) else []
        return out + [c for v in value.values() if isinstance(v, (Mapping, list)) for c in _codes_anywhere(v)]
    if isinstance(value, list):
        return [c for v in value for c in _codes_anywhere(v)]
    return []


def order_side(order: Resource) -> str | None:
    """'left' / 'right' / 'bilateral' from bodySite laterality (code or words) or a modifier LT / RT / 50."""
    sides = set()
    for key in ("bodySite", "orderDetail", "modifier", "extension", "modifierExtension"):
        sides |= {
            SIDE_CODES[c]
            for c in _codes_anywhere(order.get(key))
            if c in SIDE_CODES and (c != "50" or key != "bodySite")
        }
    for code_ext in one_or_many(
        (order.get("code") or {}).get("coding") if isinstance(order.get("code"), Mapping) else None
    ):
        sides |= {
            SIDE_CODES[c]
            for c in _codes_anywhere(code_ext.get("extension") if isinstance(code_ext, Mapping) else None)
            if c in SIDE_CODES
        }
    for site in one_or_many(order.get("bodySite")):
        if isinstance(site, Mapping):
            text = " ".join([str(site.get("text") or "")] + [str(c.get("display") or "") for c in codings(site)])
            for word in SIDE_WORDS.findall(text):
                w = word.lower()
                sides.add(LEFT if w in ("left", "lt") else RIGHT if w in ("right", "rt") else BOTH)
    if BOTH in sides or {LEFT, RIGHT} <= sides:
        return BOTH
    return sides.pop() if len(sides) == 1 else None


def order_date(order: Resource) -> date | None:
    """The order's stated date of service (None: none stated, which means today)."""
    period = order.get("occurrencePeriod")
    return (
        parse_date(order.get("occurrenceDateTime"))
        or parse_date(period.get("start") if isinstance(period, Mapping) else None)
        or parse_date(order.get("authoredOn"))
    )


def body_site_region(body_sites: Any) -> Region | None:
    """Thoracic / cervical / lumbar when bodySite says so by SNOMED code or level text."""
    by_structure = {
        THORACIC_SPINE_STRUCTURE: Region.THORACIC,
        CERVICAL_SPINE_STRUCTURE: Region.CERVICAL,
        LUMBAR_SPINE_STRUCTURE: Region.LUMBAR,
    }
    by_letter = {"C": Region.CERVICAL, "T": Region.THORACIC, "L": Region.LUMBAR, "S": Region.LUMBAR}
    regions: set[Region] = set()
    for site in one_or_many(body_sites):
        for c in codings(site):
            if c.get("system") == SNOMED and str(c.get("code")) in by_structure:
                regions.add(by_structure[str(c.get("code"))])
    for level in level_names(body_sites):
        regions.add(by_letter[level[0]])
    if len(regions) == 1:
        return regions.pop()
    if Region.THORACIC in regions:
        return Region.THORACIC  # any thoracic level makes the order (partly) thoracic
    return None


@dataclass(frozen=True)
class OrderedProcedure:
    """One procedure of the draft orders: a primary facet order and the add-ons of its family."""

    primary: Resource
    add_ons: tuple[Resource, ...]
    code: FacetCode
    add_on_codes: tuple[FacetCode, ...]
    others_in_session: tuple[Resource, ...] = field(default=())  # other interventional orders of the same visit
    other_sides: tuple[Resource, ...] = field(default=())  # the other side's order of a bilateral procedure
    later_orders: tuple[Resource, ...] = field(default=())  # facet orders of these draftOrders for other days

    @property
    def orders(self) -> tuple[Resource, ...]:
        return (self.primary,) + self.other_sides + self.add_ons

    @property
    def order_ids(self) -> tuple[str, ...]:
        return tuple(str(o.get("id") or "") for o in self.orders)

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.code.code,) + tuple(c.code for c in self.add_on_codes)

    @property
    def is_ultrasound(self) -> bool:
        return self.code.family is Family.ULTRASOUND_INJECTION

    @property
    def is_injection(self) -> bool:
        return self.code.family in INJECTION_FAMILIES

    @property
    def is_rf(self) -> bool:
        return self.code.family is Family.RF

    @property
    def text(self) -> str:
        return " ".join(order_text(o) for o in self.orders)

    def body_sites(self) -> list[Any]:
        return [s for o in self.orders for s in one_or_many(o.get("bodySite"))]

    def date_of_service(self, today: date) -> date:
        """occurrenceDateTime, else occurrencePeriod.start, else authoredOn, else today (contract §4)."""
        return order_date(self.primary) or today

    def level_count(self) -> int | None:
        """Distinct levels from bodySite; else counted from the codes; None when '3 or more' cannot be told."""
        named = level_names(self.body_sites())
        if named:
            return len(named)
        pairs = list(zip(self.add_on_codes, self.add_ons, strict=False))
        if self.other_sides and pairs and all(order_side(o) for _, o in pairs):
            # A bilateral procedure's add-ons are per side: the levels are those of the larger side.
            per_side = [
                _count_from_codes([(c, o) for c, o in pairs if order_side(o) in (side, BOTH)]) for side in (LEFT, RIGHT)
            ]
            return None if None in per_side else max(c for c in per_side if c is not None)
        return _count_from_codes(pairs)


def _count_from_codes(pairs: list[tuple[FacetCode, Resource]]) -> int | None:
    """Primary 1, 64491/64494 +1, 64492/64495 "3 or more" (None), 64634/64636 + quantity (contract §4)."""
    count = 1
    for addon, order in pairs:
        if addon.role is CodeRole.ADD_ONE:
            count += 1
        elif addon.role is CodeRole.ADD_THREE_PLUS:
            return None
        elif addon.role is CodeRole.ADD_QUANTITY:
            quantity = order.get("quantityQuantity")
            value = quantity.get("value") if isinstance(quantity, Mapping) else None
            count += int(value) if isinstance(value, (int, float)) and value > 0 else 1
    return count


def _same_visit(a: Resource, b: Resource, today: date | None = None) -> bool:
    return (order_date(a) or today) == (order_date(b) or today)


def _same_region(a: Resource, b: Resource) -> bool:
    ra, rb = body_site_region(a.get("bodySite")), body_site_region(b.get("bodySite"))
    return not (ra and rb and ra != rb)


def _sides_of_one(a: Resource, fa: FacetCode, b: Resource, fb: FacetCode, today: date | None) -> bool:
    """Same code, region and date, differing only in side: the two halves of one bilateral procedure."""
    if fa.code != fb.code or not _same_visit(a, b, today):
        return False
    if not _same_region(a, b):
        return False
    sa, sb = order_side(a), order_side(b)
    return sa is not None and sb is not None and (sa != sb or BOTH in (sa, sb))


def group_orders(
    draft_orders: Iterable[Resource], today: date | None = None
) -> tuple[list[OrderedProcedure], list[str]]:
    """In-scope procedures of one ordering session, and the ids of orders that are out of scope.

    Add-ons join the primary of the same family, zone and date; a left and a right order of the same code,
    region and date are one bilateral procedure. "Others in session" are the other interventional
    procedures dated the same day (a draft dated another day is another visit, contract §4).
    """
    service_requests = [o for o in draft_orders if isinstance(o, Mapping) and o.get("resourceType") == "ServiceRequest"]
    primaries: list[tuple[Resource, FacetCode]] = []
    add_ons: list[tuple[Resource, FacetCode]] = []
    out_of_scope: list[str] = []
    others: list[Resource] = []
    for order in service_requests:
        fc = facet_code_of(order)
        if fc is None:
            out_of_scope.append(str(order.get("id") or ""))
            if is_other_interventional(order):
                others.append(order)
        elif fc.role is CodeRole.PRIMARY:
            primaries.append((order, fc))
        else:
            add_ons.append((order, fc))

    # Pair the sides first: the second side's order rides along with the first.
    groups: list[tuple[Resource, FacetCode, list[Resource]]] = []
    for order, fc in primaries:
        twin = next((g for g in groups if not g[2] and _sides_of_one(g[0], g[1], order, fc, today)), None)
        if twin is not None:
            twin[2].append(order)
        else:
            groups.append((order, fc, []))

    procedures: list[OrderedProcedure] = []
    unclaimed = list(add_ons)
    for order, fc, sides in groups:
        mine = [
            (o, c)
            for o, c in unclaimed
            if c.family == fc.family and c.zone == fc.zone and _same_visit(o, order, today) and _same_region(o, order)
        ]
        unclaimed = [pair for pair in unclaimed if pair not in mine]
        procedures.append(
            OrderedProcedure(order, tuple(o for o, _ in mine), fc, tuple(c for _, c in mine), (), tuple(sides))
        )
    # An add-on without its primary is still a facet procedure the payer must answer for.
    for order, fc in unclaimed:
        procedures.append(OrderedProcedure(order, (), fc, ()))

    result = []
    for proc in procedures:
        same_day = [o for o in others if _same_visit(o, proc.primary, today)]
        rest = [p.primary for p in procedures if p is not proc]
        same_day += [o for o in rest if _same_visit(o, proc.primary, today)]
        later = tuple(o for o in rest if not _same_visit(o, proc.primary, today))
        result.append(
            OrderedProcedure(
                proc.primary, proc.add_ons, proc.code, proc.add_on_codes, tuple(same_day), proc.other_sides, later
            )
        )
    return result, out_of_scope
