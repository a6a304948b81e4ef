"""Reusable parts of a story: the usual pain history, failed conservative care, attestations, orders."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from fhir_fixtures.builder import Scenario, at
from fhir_fixtures.codes import LUMBAR_2, REV_2019, REV_2026, C, Code


def lumbar_pain(s: Scenario, onset_months: int = 14) -> list[dict]:
    """Chronic low back pain with lumbar facet spondylosis."""
    return [
        s.condition(C["low-back-pain"], C["low-back-pain-sct"], onset=s.ago(months=onset_months)),
        s.condition(C["lumbar-spondylosis"], onset=s.ago(months=max(onset_months - 4, 2))),
    ]


def neck_pain(s: Scenario) -> list[dict]:
    return [
        s.condition(C["cervicalgia"], C["neck-pain-sct"], onset=s.ago(months=11)),
        s.condition(C["cervical-spondylosis"], onset=s.ago(months=9)),
    ]


def thoracic_pain(s: Scenario) -> list[dict]:
    return [
        s.condition(C["thoracic-pain"], onset=s.ago(months=10)),
        s.condition(C["thoracic-spondylosis"], onset=s.ago(months=8)),
    ]


def conservative_care(s: Scenario, *, pt_days: int | None = 56, nsaid: str | None = "naproxen",
                      adl: bool = True, post_pain: int | None = 6) -> None:
    """The standard failed-conservative-care story within the past year.

    PT from DOS-200 days for `pt_days` days (56 = 8 weeks: enough for 2019's 6 weeks too),
    a 45-day NSAID course ending DOS-76, then pain still 6/10 and interfering with ADLs at DOS-21.
    """
    if pt_days is not None:
        s.pt_course(s.ago(days=200), pt_days)
    if nsaid:
        s.nsaid_statement(nsaid, s.ago(days=120), s.ago(days=76))
    if post_pain is not None:
        s.pain_score(post_pain, at(s.ago(days=21), "15:00"))
    if adl:
        s.interference(6, at(s.ago(days=21), "15:05"))


def dx_attestations(s: Scenario, *, adl: bool = False, rf_considered: bool = True) -> dict:
    """05/26 attestations of what no structured data can show (findings, RF being considered)."""
    items = {"I.A.1.c": True, "I.A.1.f": rf_considered}
    if adl:
        items = {"I.A.1.a": True, **items}
    return s.attestation(REV_2026, items)


def dx_attestations_2019(s: Scenario) -> dict:
    return s.attestation(REV_2019, {"I.A.2": True, "I.A.3.c": True, "I.A.3bis": True})


def documented_lumbar_candidate(s: Scenario, **care: Any) -> list[dict]:
    """A lumbar facet-pain patient with every 05/26 diagnostic-block criterion documented."""
    conditions = lumbar_pain(s)
    conservative_care(s, **care)
    dx_attestations(s)
    return conditions


def lumbar_injection_order(s: Scenario, levels: tuple[str, ...] = LUMBAR_2, intent: str | None = "diagnostic",
                    reasons: Iterable[dict] = (), **kwargs: Any) -> dict:
    """64493 (+64494 for the 2nd level, +64495 for 3rd and further) with all levels on the primary."""
    primary = s.draft_order("64493", levels=levels, intent=intent, reasons=reasons, **kwargs)
    if len(levels) >= 2:
        s.draft_order("64494", intent=intent, **kwargs)
    if len(levels) >= 3:
        s.draft_order("64495", intent=intent, **kwargs)
    return primary


def two_positive_blocks(s: Scenario, first: date, second: date, code: str = "64493",
                        levels: tuple[str, ...] = LUMBAR_2, region: Code | None = None) -> None:
    """Two diagnostic blocks, 87.5% and 85.7% relief (the first coded diagnostic, the second uncoded)."""
    s.block(code, first, levels=levels, intent="diagnostic", region=region, before=8, after=1)
    s.block(code, second, levels=levels, region=region, before=7, after=1)


def therapeutic_candidate(s: Scenario, blocks_ago_days: tuple[int, int] = (90, 60)) -> list[dict]:
    conditions = lumbar_pain(s)
    conservative_care(s)
    two_positive_blocks(s, s.ago(days=blocks_ago_days[0]), s.ago(days=blocks_ago_days[1]))
    return conditions
