"""The typed parameters of each check (policy/params.py validates a revision's `params` against them at load).

A field without a default must be given in the revision file; `valuesets()` fields name value sets that must
exist in valuesets.json. CRITERIA.md describes what each parameter means clinically.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from cds_service.policy.params import CheckParams, resolved, valuesets


@dataclass(frozen=True)
class MaxBlocks(CheckParams):
    max_blocks: int


@dataclass(frozen=True)
class MaxLevels(CheckParams):
    max_levels: int


@dataclass(frozen=True)
class UltrasoundCodes(CheckParams):
    codes: tuple[str, ...]  # the codes the revision's coding table says do not support coverage


@dataclass(frozen=True)
class PainDuration(CheckParams):
    min_months: int
    requires_adl: bool
    lookback_months: int  # for the interference score
    pain_valuesets: tuple[str, ...] = valuesets()  # diagnoses that show back or neck pain
    # PT/home exercise for the complaint: treatment dated before a later "onset" contradicts that onset.
    therapy_valuesets: tuple[str, ...] | None = valuesets(optional=True)
    home_exercise_valuesets: tuple[str, ...] | None = valuesets(optional=True)


@dataclass(frozen=True)
class FailedConservative(CheckParams):
    lookback_months: int
    min_pain_score: int
    therapy_valuesets: tuple[str, ...] = valuesets()
    home_exercise_valuesets: tuple[str, ...] = valuesets()  # a prescribed programme (ServiceRequest, CarePlan)


@dataclass(frozen=True)
class SynovialCyst(CheckParams):
    min_pain_score: int  # "moderate to severe radicular pain"
    lookback_months: int
    cyst_valuesets: tuple[str, ...] = valuesets()
    radiculopathy_valuesets: tuple[str, ...] = valuesets()


@dataclass(frozen=True)
class TherapyTrial(CheckParams):
    min_days: int
    lookback_months: int
    allow_intolerance: bool
    therapy_valuesets: tuple[str, ...] = valuesets()
    home_exercise_valuesets: tuple[str, ...] = valuesets()  # a prescribed programme (ServiceRequest, CarePlan)
    exception_criterion: str | None = None  # a synovial_cyst_exception criterion that waives the trial
    # Set when the revision's text gives no window: the card then says the look-back is ours, not the policy's.
    lookback_note: str | None = None
    exception: SynovialCyst | None = resolved()  # that criterion's parameters, filled in by the loader

    criterion_refs: ClassVar = {"exception_criterion": "synovial_cyst_exception"}


@dataclass(frozen=True)
class NsaidTrial(CheckParams):
    min_days: int
    lookback_months: int
    egfr_below: int  # the latest eGFR below this contraindicates NSAIDs (CKD stage 4-5)
    contraindication_valuesets: tuple[str, ...] = valuesets()  # established diagnoses that contraindicate them
    lookback_note: str | None = None  # as TherapyTrial.lookback_note


@dataclass(frozen=True)
class AttestationOnly(CheckParams):
    rf_order_counts: bool  # an RF order on file shows that RF "is being considered"
    document: str | None = None  # what the clinician documents, in clinical words ("that RF … is being considered")


@dataclass(frozen=True)
class FacetSyndromeFindings(CheckParams):
    synovial_cyst_exception: bool  # radiculopathy caused by a facet synovial cyst does not exclude
    exclusion_valuesets: tuple[str, ...] = valuesets()
    radiculopathy_valuesets: tuple[str, ...] = valuesets()
    site_not_stated_valuesets: tuple[str, ...] = valuesets()  # raise the question of the spine, do not settle it
    cyst_valuesets: tuple[str, ...] | None = valuesets(optional=True)

    def problem(self) -> str | None:
        if self.synovial_cyst_exception and not (self.cyst_valuesets and self.radiculopathy_valuesets):
            return "synovial_cyst_exception = true needs 'cyst_valuesets' and 'radiculopathy_valuesets'"
        return None


@dataclass(frozen=True)
class SecondBlock(CheckParams):
    min_interval_days: int
    every_repeat: bool  # the interval applies to every repeat block, not only the second
    min_relief_percent: int | None = None  # relief after the first block; None: not a criterion here


@dataclass(frozen=True)
class MinRelief(CheckParams):
    min_relief_percent: int
    # the criterion that already asks for the first block's relief when it is not recorded (05/26: I.A.1.e), so
    # the Note does not ask twice; none (2019): the Note itself needs the documentation
    relief_asked_by: str | None = None


@dataclass(frozen=True)
class TwoPositiveBlocks(CheckParams):
    min_relief_percent: int
    requires_function_attestation: bool


@dataclass(frozen=True)
class MinMonths(CheckParams):
    min_months: int


class Prior(StrEnum):
    """The earlier procedure whose relief must have lasted."""

    RF = "rf"
    THERAPEUTIC_INJECTION = "therapeutic-injection"


@dataclass(frozen=True)
class SustainedRelief(CheckParams):
    min_relief_percent: int
    min_months: int
    requires_function: bool
    prior: Prior
    # I.D.2: "… for at least three months … or at least 50% consistent improvement in … ADLs … same scale"
    or_function_improved: bool = False


@dataclass(frozen=True)
class NotRfCandidate(CheckParams):
    device_valuesets: tuple[str, ...] = valuesets()  # implanted electrical devices (Device.type)
    valuesets: tuple[str, ...] = valuesets()  # diagnoses that make RF impossible (last: the name shadows)
