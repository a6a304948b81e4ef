"""Facet procedure codes, and how draft orders become procedures (primary + add-ons = one procedure).

CPT semantics come from the policy's coding tables (both revisions) and contract §4 "In scope".
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping

from cds_service.policy.conventions import CERVICAL_SPINE_STRUCTURE, CPT, DIAGNOSTIC_INTENT, LUMBAR_SPINE_STRUCTURE, SNOMED, THERAPEUTIC_INTENT, THORACIC_SPINE_STRUCTURE
from cds_service.evaluation.dates import parse_date
from cds_service.evaluation.record import as_list, codings, concept_text

Resource = Mapping[str, Any]


@dataclass(frozen=True)
class FacetCode:
    code: str
    family: str  # injection | rf | ultrasound-injection | pulsed-rf
    zone: str  # "lumbar" (lumbar/sacral) or "cervical-thoracic"; "any" for 64999
    role: str  # primary | add-one (second level) | add-three-plus | add-quantity
    display: str


def _codes() -> dict[str, FacetCode]:
    rows = [
        ("64490", "injection", "cervical-thoracic", "primary", "facet injection, cervical/thoracic, single level"),
        ("64491", "injection", "cervical-thoracic", "add-one", "facet injection, cervical/thoracic, second level"),
        ("64492", "injection", "cervical-thoracic", "add-three-plus", "facet injection, cervical/thoracic, third+ level"),
        ("64493", "injection", "lumbar", "primary", "facet injection, lumbar/sacral, single level"),
        ("64494", "injection", "lumbar", "add-one", "facet injection, lumbar/sacral, second level"),
        ("64495", "injection", "lumbar", "add-three-plus", "facet injection, lumbar/sacral, third+ level"),
        ("64633", "rf", "cervical-thoracic", "primary", "facet RF neurotomy, cervical/thoracic, single joint"),
        ("64634", "rf", "cervical-thoracic", "add-quantity", "facet RF neurotomy, cervical/thoracic, each additional joint"),
        ("64635", "rf", "lumbar", "primary", "facet RF neurotomy, lumbar/sacral, single joint"),
        ("64636", "rf", "lumbar", "add-quantity", "facet RF neurotomy, lumbar/sacral, each additional joint"),
        ("0213T", "ultrasound-injection", "cervical-thoracic", "primary", "facet injection with ultrasound, cervical/thoracic, single level"),
        ("0214T", "ultrasound-injection", "cervical-thoracic", "add-one", "facet injection with ultrasound, cervical/thoracic, second level"),
        ("0215T", "ultrasound-injection", "cervical-thoracic", "add-three-plus", "facet injection with ultrasound, cervical/thoracic, third+ level"),
        ("0216T", "ultrasound-injection", "lumbar", "primary", "facet injection with ultrasound, lumbar/sacral, single level"),
        ("0217T", "ultrasound-injection", "lumbar", "add-one", "facet injection with ultrasound, lumbar/sacral, second level"),
        ("0218T", "ultrasound-injection", "lumbar", "add-three-plus", "facet injection with ultrasound, lumbar/sacral, third+ level"),
        ("64999", "pulsed-rf", "any", "primary", "unlisted nervous system procedure (pulsed RF of facet joints)"),
    ]
    return {r[0]: FacetCode(*r) for r in rows}


FACET_CODES = _codes()
INJECTION_FAMILIES = {"injection", "ultrasound-injection"}
ULTRASOUND_TO_FLUORO = {"0213T": "64490", "0214T": "64491", "0215T": "64492", "0216T": "64493", "0217T": "64494", "0218T": "64495"}
# Other interventional spine/pain procedures that make a second "procedure" at the same visit (contract §4).
OTHER_INTERVENTIONAL = {str(c) for c in range(62320, 62328)} | {str(c) for c in range(64479, 64485)} | {"27096", "64451", "G0260", "64625"}

CPT_SHAPE = re.compile(r"^(\d{5}|\d{4}T)$")
PULSED_RF_TEXT = re.compile(r"pulsed", re.I)
FACET_TEXT = re.compile(r"facet|medial branch|zygapophys", re.I)
LEVEL_TEXT = re.compile(r"\b([CTLS])\s?(\d{1,2})(?:\s*[-–/]\s*([CTLS])?\s?(\d{1,2}))?\b", re.I)


def cpt_codes(concept: Any) -> list[str]:
    """CPT codes of a CodeableConcept; a coding with no system but a CPT-shaped code counts too."""
    out = []
    for c in codings(concept):
        code = str(c.get("code") or "").strip().upper()
        if c.get("system") == CPT or (not c.get("system") and CPT_SHAPE.match(code)):
            out.append(code)
    return out


def order_text(order: Resource) -> str:
    parts = [concept_text(order.get("code")), concept_text(order.get("orderDetail"))]
    parts += [str(n.get("text") or "") for n in as_list(order.get("note")) if isinstance(n, Mapping)]
    return " ".join(parts).lower()


def facet_code_of(order: Resource) -> FacetCode | None:
    """The in-scope facet code of an order or Procedure, or None (64999 only when it names pulsed facet RF)."""
    for code in cpt_codes(order.get("code")):
        fc = FACET_CODES.get(code)
        if fc is None:
            continue
        if code == "64999":
            text = order_text(order)
            if not (PULSED_RF_TEXT.search(text) and FACET_TEXT.search(text)):
                continue
        return fc
    return None


def stated_intent(resource: Resource) -> str | None:
    """'diagnostic' / 'therapeutic' from SNOMED intent codes in orderDetail or category."""
    for c in codings(resource.get("orderDetail")) + codings(resource.get("category")):
        if c.get("system") in (SNOMED, None) and c.get("code") == DIAGNOSTIC_INTENT:
            return "diagnostic"
        if c.get("system") in (SNOMED, None) and c.get("code") == THERAPEUTIC_INTENT:
            return "therapeutic"
    return None


def level_names(body_sites: Any) -> list[str]:
    """Distinct spinal levels named in bodySite (coding display or text): 'L4-L5', 'C5-C6', 'L5-S1', 'T7'."""
    found: list[str] = []
    for site in as_list(body_sites):
        if not isinstance(site, Mapping):
            continue
        texts = [str(site.get("text") or "")] + [str(c.get("display") or "") for c in codings(site)]
        for text in texts:
            match = LEVEL_TEXT.search(text)
            if match:
                first, n1, second, n2 = match.groups()
                name = f"{first.upper()}{int(n1)}"
                if n2:
                    name += f"-{(second or first).upper()}{int(n2)}"
                if name not in found:
                    found.append(name)
                break
    return found


def body_site_region(body_sites: Any) -> str | None:
    """'thoracic' / 'cervical' / 'lumbar' when bodySite says so by SNOMED code or level text."""
    regions = set()
    for site in as_list(body_sites):
        for c in codings(site):
            if c.get("system") == SNOMED:
                regions |= {THORACIC_SPINE_STRUCTURE: {"thoracic"}, CERVICAL_SPINE_STRUCTURE: {"cervical"}, LUMBAR_SPINE_STRUCTURE: {"lumbar"}}.get(str(c.get("code")), set())
    for level in level_names(body_sites):
        regions.add({"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "lumbar"}[level[0]])
    if len(regions) == 1:
        return regions.pop()
    if "thoracic" in regions:
        return "thoracic"  # any thoracic level makes the order (partly) thoracic
    return None


@dataclass(frozen=True)
class OrderedProcedure:
    """One procedure of the draft orders: a primary facet order and the add-ons of its family."""

    primary: Resource
    add_ons: tuple[Resource, ...]
    code: FacetCode
    add_on_codes: tuple[FacetCode, ...]
    others_in_session: tuple[Resource, ...] = field(default=())  # other interventional orders of the same visit

    @property
    def orders(self) -> tuple[Resource, ...]:
        return (self.primary,) + self.add_ons

    @property
    def order_ids(self) -> tuple[str, ...]:
        return tuple(str(o.get("id") or "") for o in self.orders)

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.code.code,) + tuple(c.code for c in self.add_on_codes)

    @property
    def is_ultrasound(self) -> bool:
        return self.code.family == "ultrasound-injection"

    @property
    def is_injection(self) -> bool:
        return self.code.family in INJECTION_FAMILIES

    @property
    def is_rf(self) -> bool:
        return self.code.family == "rf"

    @property
    def text(self) -> str:
        return " ".join(order_text(o) for o in self.orders)

    def body_sites(self) -> list[Any]:
        return [s for o in self.orders for s in as_list(o.get("bodySite"))]

    def date_of_service(self, today: date) -> date:
        """occurrenceDateTime, else occurrencePeriod.start, else authoredOn, else today (contract §4)."""
        period = self.primary.get("occurrencePeriod")
        return (
            parse_date(self.primary.get("occurrenceDateTime"))
            or parse_date(period.get("start") if isinstance(period, Mapping) else None)
            or parse_date(self.primary.get("authoredOn"))
            or today
        )

    def level_count(self) -> int | None:
        """Distinct levels from bodySite; else counted from the codes; None when '3 or more' cannot be told."""
        named = level_names(self.body_sites())
        if named:
            return len(named)
        count = 1
        for addon, order in zip(self.add_on_codes, self.add_ons):
            if addon.role == "add-one":
                count += 1
            elif addon.role == "add-three-plus":
                return None
            elif addon.role == "add-quantity":
                quantity = order.get("quantityQuantity")
                value = quantity.get("value") if isinstance(quantity, Mapping) else None
                count += int(value) if isinstance(value, (int, float)) and value > 0 else 1
        return count


def group_orders(draft_orders: Iterable[Resource]) -> tuple[list[OrderedProcedure], list[str]]:
    """In-scope procedures of one ordering session, and the ids of orders that are out of scope."""
    service_requests = [o for o in draft_orders if isinstance(o, Mapping) and o.get("resourceType") == "ServiceRequest"]
    primaries: list[tuple[Resource, FacetCode]] = []
    add_ons: list[tuple[Resource, FacetCode]] = []
    out_of_scope: list[str] = []
    others: list[Resource] = []
    for order in service_requests:
        fc = facet_code_of(order)
        if fc is None:
            out_of_scope.append(str(order.get("id") or ""))
            if set(cpt_codes(order.get("code"))) & OTHER_INTERVENTIONAL:
                others.append(order)
        elif fc.role == "primary":
            primaries.append((order, fc))
        else:
            add_ons.append((order, fc))

    procedures: list[OrderedProcedure] = []
    unclaimed = list(add_ons)
    for order, fc in primaries:
        mine = [(o, c) for o, c in unclaimed if c.family == fc.family and c.zone == fc.zone]
        unclaimed = [pair for pair in unclaimed if pair not in mine]
        procedures.append(OrderedProcedure(order, tuple(o for o, _ in mine), fc, tuple(c for _, c in mine)))
    # An add-on without its primary is still a facet procedure the payer must answer for.
    for order, fc in unclaimed:
        procedures.append(OrderedProcedure(order, (), fc, ()))

    result = []
    for proc in procedures:
        session_others = tuple(others) + tuple(p.primary for p in procedures if p is not proc)
        result.append(OrderedProcedure(proc.primary, proc.add_ons, proc.code, proc.add_on_codes, session_others))
    return result, out_of_scope
