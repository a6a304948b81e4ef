"""The policy as data: a revision is an ordered list of criteria, each naming the check that decides it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from cds_service.policy.conventions import QUESTIONNAIRE_BASE
from cds_service.policy.params import CheckParams, NoParams
from cds_service.policy.terms import DecidableAt, Fix, OrderKind

# Order kinds a criterion can apply to (see policy/data/cp-mp-171/CRITERIA.md "Order kinds").
ORDER_KINDS = frozenset(OrderKind)
ALL_KINDS = "all"  # `applies_to = ["all"]`


@dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    text: str
    check: str
    applies_to: frozenset[str]  # order kinds; {"all"} for every order
    attestable: bool = False
    params: CheckParams = field(default_factory=NoParams)  # the check's typed parameters (policy/params.py)
    decidable_at: DecidableAt = DecidableAt.ORDER_SIGN  # order-select: not met on the order's own facts
    fix: Fix | None = None  # the order change a card proposes when it is not met

    def applies(self, kind: str) -> bool:
        return ALL_KINDS in self.applies_to or kind in self.applies_to


@dataclass(frozen=True)
class Revision:
    policy: str
    title: str
    revision: str  # e.g. "2026-05"; also the Questionnaire version
    label: str  # as printed in the policy, e.g. "05/26"
    effective: date
    provenance: str  # "published" or "reconstructed from the revision log of ..."
    source: str
    criteria: tuple[Criterion, ...]

    @property
    def questionnaire_url(self) -> str:
        return QUESTIONNAIRE_BASE

    @property
    def questionnaire_canonical(self) -> str:
        return f"{QUESTIONNAIRE_BASE}|{self.revision}"

    @property
    def criterion_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.criteria)

    @property
    def attestable_criteria(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if c.attestable)

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)
