"""Reading what a user sees in a hook answer: per-order coverage decisions and the per-criterion table of a card."""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

RESULT_WORDS = {"met": "met", "not met": "not-met", "needs documentation": "needs-documentation",
                "not applicable": "not-applicable"}
_ROW = re.compile(r"^\|\s*\**(?P<first>[^|]+?)\**\s*\|\s*\**(?P<result>met|not met|needs documentation|not applicable)\b")
_NOT_APPLICABLE = re.compile(r"^Not applicable to this [^:\n]+: (?P<ids>[^\n]+)\.$", re.M)

# Criterion ids that only structure the policy, plus the Notes that share a prefix with their criterion: knowing
# them keeps "I.A.1.b.i Note" from being read as I.A.1.b.i.
STRUCTURAL_CRITERION_IDS = frozenset({"I", "I.A", "I.A.1", "I.B", "I.C", "I.D", "I.E", "I.F", "Table 2",
                                      "I.A.1.b.i Note", "I.A.1 Note", "I.A Note"})

# Each revision's effective date and the label its card shows (the revision files' `effective` and `label`):
# the revision in force on a date of service is the latest one effective on or before it.
REVISIONS = {"2019": (date(2019, 7, 1), "2019"), "2024-06": (date(2024, 6, 1), "06/24"),
             "2025-05": (date(2025, 5, 1), "05/25"), "2026-05": (date(2026, 5, 1), "05/26")}


# The card's decision line: "**Meets CP.MP.171 revision 05/26**", "**Not covered** under …", "**Documentation
# needed** under …", "**Coverage could not be checked** against …".
# the label ends before a "(reconstructed from …)" note
_DECISION_LINE = re.compile(r"\*\*(?:(?P<covered>Meets) CP\.MP\.171 revision (?P<label1>[^*(]+)[^*]*\*\*"
                            r"|(?P<other>Not covered|Documentation needed|Coverage could not be checked)\*\* "
                            r"(?:under|against) CP\.MP\.171 revision (?P<label2>[^:(]+)[^:]*:)")
_DECISIONS = {"Meets": "covered", "Not covered": "not-covered", "Documentation needed": "conditional",
              "Coverage could not be checked": "indeterminate"}


def decision_from_card(detail: str) -> tuple[str, str] | None:
    """(decision, revision label) from the decision line of a card's detail, if it has one."""
    m = _DECISION_LINE.search(detail)
    if not m:
        return None
    return _DECISIONS[m.group("covered") or m.group("other")], (m.group("label1") or m.group("label2")).strip()


def revision_in_force(day: date) -> str | None:
    started = [(effective, rid) for rid, (effective, _) in REVISIONS.items() if effective <= day]
    return max(started)[1] if started else None


def criterion_ids(scenarios: Iterable[dict[str, Any]]) -> set[str]:
    """Every criterion id the scenarios' expectations name, plus the structural ones."""
    return {k for s in scenarios for e in s["expected"] for k in e["criteria"]} | STRUCTURAL_CRITERION_IDS


def criteria_from_card(detail: str, ids: set[str]) -> dict[str, str]:
    """criterion id → result, read from the Instructions card's per-criterion table."""
    out: dict[str, str] = {}
    for line in detail.splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        cell = m.group("first").replace("*", "").strip()
        hits = [i for i in ids if cell == i or cell.startswith(i + " ")]
        if hits:
            out[max(hits, key=len)] = RESULT_WORDS[m.group("result")]
    folded = _NOT_APPLICABLE.search(detail)  # the not-applicable ids are folded into one line
    for criterion_id in folded.group("ids").split(", ") if folded else ():
        out[criterion_id] = "not-applicable"
    return out


def criterion_tables(answer: dict[str, Any]) -> list[str]:
    """The details of the cards that carry a per-criterion table."""
    return [c["detail"] for c in answer.get("cards", []) if "| Criterion |" in c.get("detail", "")]
