"""What an evaluation produces: per-criterion results and the decision for one procedure.

Plain frozen dataclasses so that cards, coverage-information, the CLI and the audit trail all
read the same thing. Nothing here knows about HTTP or FHIR I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from cds_service.policy.terms import DecidableAt, Fix, OrderKind, Region


# str+Enum, not StrEnum: StrEnum would change str()/format() of members (e.g. in f-strings and logs).
class Status(str, Enum):  # noqa: UP042
    """The four results a criterion can have (contract §4 "Criterion ids")."""

    MET = "met"
    NOT_MET = "not-met"
    DOCUMENTATION = "needs-documentation"
    NOT_APPLICABLE = "not-applicable"

    @property
    def label(self) -> str:
        return {
            Status.MET: "met",
            Status.NOT_MET: "not met",
            Status.DOCUMENTATION: "needs documentation",
            Status.NOT_APPLICABLE: "not applicable",
        }[self]


class Decision(str, Enum):  # noqa: UP042 (see Status)
    """CRD `covered` values (coverageInfo value set)."""

    COVERED = "covered"
    NOT_COVERED = "not-covered"
    CONDITIONAL = "conditional"
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class Evidence:
    """One resource that proves (or disproves) a criterion: what a reviewer would open."""

    resource_type: str
    resource_id: str
    date: str | None = None  # YYYY-MM-DD when the resource carries one
    code: str | None = None  # "system|code" or display text of the relevant coding
    note: str | None = None  # e.g. "text-matched", "relief 85%"
    label: str | None = None  # the record's own words for it ("Lumbar spondylosis"), for clinicians

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"

    def describe(self) -> str:
        parts = [self.reference]
        if self.date:
            parts.append(self.date)
        if self.code:
            parts.append(self.code)
        if self.note:
            parts.append(self.note)
        return ", ".join(parts)


@dataclass(frozen=True)
class CriterionResult:
    criterion_id: str
    status: Status
    reason: str  # short, human, no error text
    evidence: tuple[Evidence, ...] = ()
    title: str = ""  # the criterion's short title from the policy data
    attestable: bool = False
    settled_by_attestation: bool = False
    decidable_at: DecidableAt = DecidableAt.ORDER_SIGN  # the criterion's role (policy data), for the cards
    fix: Fix | None = None  # the order change that answers it when not met (policy data)


@dataclass(frozen=True)
class SkippedResource:
    """A resource the record could not use, named so that nothing is lost silently."""

    resource_type: str
    resource_id: str | None
    problem: str


@dataclass(frozen=True)
class ProcedureDetermination:
    """The decision for one procedure (a primary facet order plus its add-ons)."""

    policy_id: str
    revision_id: str | None  # None: date of service before the earliest revision
    revision_label: str | None
    date_of_service: str  # YYYY-MM-DD
    order_ids: tuple[str, ...]  # primary first, then add-ons
    procedure_label: str  # e.g. "Lumbar diagnostic facet block (64493 + 64494), 2 levels"
    kind: OrderKind
    region: Region
    codes: tuple[str, ...] = ()  # CPT codes of the procedure's orders, primary first
    levels: tuple[str, ...] = ()  # named spinal levels from bodySite ("L4-L5"), in order given
    level_count: int | None = None  # None when it cannot be told (e.g. 64495 without bodySite)
    decision: Decision | None = None
    criteria: tuple[CriterionResult, ...] = ()
    technical_problem: str | None = None  # set when FHIR data could not be had (never shown in a card)
    questionnaire: str | None = None  # canonical|version of the attestation Questionnaire
    max_levels: int | None = None  # the revision's level limit for this kind of order (its level criterion)
    dated_today: bool = False  # the order names no date: today stood in for the date of service (contract §4)
    revision_provenance: str | None = None  # "published", or how a revision was rebuilt (said on the card)

    def with_results(self, **changes) -> ProcedureDetermination:
        from dataclasses import replace

        return replace(self, **changes)

    @property
    def not_met(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.status is Status.NOT_MET)

    @property
    def needs_documentation(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.status is Status.DOCUMENTATION)


@dataclass(frozen=True)
class Evaluation:
    """Everything one evaluation call produced: one determination per in-scope procedure."""

    determinations: tuple[ProcedureDetermination, ...]
    skipped: tuple[SkippedResource, ...] = ()
    out_of_scope_order_ids: tuple[str, ...] = field(default=())
