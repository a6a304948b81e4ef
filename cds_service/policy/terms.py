"""The words of the domain, as enums: one list each, so a misspelt kind or zone fails where it is written.

StrEnum: members are their strings (`OrderKind.RF_REPEAT == "rf-repeat"`), so JSON, logs and the policy
data read exactly as before.
"""
from __future__ import annotations

from enum import StrEnum


class OrderKind(StrEnum):
    """What a facet order is (policy/data/cp-mp-171/CRITERIA.md "Order kinds")."""

    DIAGNOSTIC_BLOCK = "diagnostic-block"
    THERAPEUTIC_INJECTION = "therapeutic-injection"
    INJECTION_INTENT_UNKNOWN = "injection-intent-unknown"
    RF_INITIAL = "rf-initial"
    RF_REPEAT = "rf-repeat"
    PULSED_RF = "pulsed-rf"


class Intent(StrEnum):
    """Why an injection is done (SNOMED intent codes on the order; unstated: inferred, see OrderKind)."""

    DIAGNOSTIC = "diagnostic"
    THERAPEUTIC = "therapeutic"


class Family(StrEnum):
    """The procedure family of an in-scope code (scope table)."""

    INJECTION = "injection"
    ULTRASOUND_INJECTION = "ultrasound-injection"
    RF = "rf"
    PULSED_RF = "pulsed-rf"


INJECTION_FAMILIES = frozenset({Family.INJECTION, Family.ULTRASOUND_INJECTION})


class Zone(StrEnum):
    """The part of the spine a CPT code names: CPT does not tell cervical from thoracic."""

    LUMBAR = "lumbar"  # lumbar or sacral
    CERVICAL_THORACIC = "cervical-thoracic"
    ANY = "any"  # 64999: no region in the code


class Region(StrEnum):
    """The region an order is decided for: the code's zone narrowed by bodySite or diagnoses."""

    LUMBAR = "lumbar"
    CERVICAL = "cervical"
    THORACIC = "thoracic"
    CERVICAL_OR_THORACIC = "cervical-or-thoracic"  # a cervical/thoracic code, region not stated
    ANY = "any"


class CodeRole(StrEnum):
    """How a code counts levels (contract §4 "Levels")."""

    PRIMARY = "primary"
    ADD_ONE = "add-one"  # second level
    ADD_THREE_PLUS = "add-three-plus"  # third and any additional level: "3 or more"
    ADD_QUANTITY = "add-quantity"  # each additional joint, counted by quantity


class DecidableAt(StrEnum):
    """The earliest hook at which a criterion's not-met answer is final (cards at order-select)."""

    ORDER_SELECT = "order-select"  # decided by the order's own facts: warn while ordering
    ORDER_SIGN = "order-sign"


class Fix(StrEnum):
    """A change to the order that a Propose-Alternate-Request card can offer when the criterion fails."""

    LEVELS = "levels"  # keep the first N levels (N = the criterion's max_levels)
    FLUOROSCOPIC_CODE = "fluoroscopic-code"  # swap the ultrasound code for its fluoroscopic equivalent
