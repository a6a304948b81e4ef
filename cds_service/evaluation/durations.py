"""How long a course lasted: interval unions, supply derivation, stated durations (contract §4 "Conservative therapy").

Pure functions. A length is derived only from what the record states; when it cannot be derived the caller
gets `None` (and a reason naming what is missing), never a guessed "1 day".
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from cds_service.evaluation.dates import parse_date
from cds_service.evaluation.record import one_or_many

Interval = tuple[date, date]  # inclusive calendar days

# UCUM / plain units → days. Hours and minutes only make sense for timing periods (fractions of a day).
_UNIT_DAYS: dict[str, float] = {
    "min": 1 / 1440, "h": 1 / 24, "hr": 1 / 24, "hour": 1 / 24, "hours": 1 / 24,
    "d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7,
    "mo": 30, "month": 30, "months": 30, "a": 365, "year": 365, "years": 365,
}
# Timing.code abbreviations (HL7 TimingAbbreviation) → administrations per day.
_TIMING_CODES = {
    "QD": 1,
    "QOD": 0.5,
    "BID": 2,
    "TID": 3,
    "QID": 4,
    "AM": 1,
    "PM": 1,
    "Q4H": 6,
    "Q6H": 4,
    "Q8H": 3,
    "Q12H": 2,
}
# "for 30 days", "x 2 weeks", "× 10 d", "for a total of 14 days"
# ("for up to 10 days" is a ceiling, not a course: it does not match.)
_STATED = re.compile(
    r"(?:\bfor(?:\s+a\s+total\s+of|\s+the\s+next)?|\bx|×)\s*(\d+(?:\.\d+)?)\s*(days?|d|weeks?|wks?|months?)\b", re.I)


def unit_days(unit: Any) -> float | None:
    return _UNIT_DAYS.get(str(unit).strip().lower()) if unit else None


def duration_days(duration: Any) -> int | None:
    """Whole days of a FHIR Duration (≥ 1), or None when absent, non-positive or in an unknown unit."""
    if not isinstance(duration, Mapping) or isinstance(duration.get("value"), bool):
        return None
    value = duration.get("value")
    factor = unit_days(duration.get("code") or duration.get("unit"))
    if not isinstance(value, (int, float)) or factor is None or factor < 1 or value <= 0:
        return None
    return int(round(value * factor))


def _repeat(dosage: Mapping[str, Any]) -> Mapping[str, Any]:
    timing = timing_raw if isinstance(timing_raw := dosage.get("timing"), Mapping) else {}
    repeat = timing.get("repeat")
    return repeat if isinstance(repeat, Mapping) else {}


def doses_per_day(dosage: Mapping[str, Any]) -> float | None:
    """Administrations a day from timing.repeat frequency/period(Unit), else timing.code; None if not stated."""
    repeat = _repeat(dosage)
    freq, period = repeat.get("frequency", 1), repeat.get("period")
    per = unit_days(repeat.get("periodUnit"))
    if isinstance(period, (int, float)) and period > 0 and per and isinstance(freq, (int, float)) and freq > 0:
        return freq / (period * per)
    timing = timing_raw if isinstance(timing_raw := dosage.get("timing"), Mapping) else {}
    for c in one_or_many((timing.get("code") or {}).get("coding") if isinstance(timing.get("code"), Mapping) else None):
        if isinstance(c, Mapping) and str(c.get("code") or "").upper() in _TIMING_CODES:
            return float(_TIMING_CODES[str(c["code"]).upper()])
    return None


def _unit_of(quantity: Mapping[str, Any]) -> str:
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
    return {"{tbl}": "tab", "tablet": "tab", "tablets": "tab", "tabs": "tab", "{capsule}": "cap",
            "capsule": "cap", "capsules": "cap", "caps": "cap"}.get(unit, unit)


def daily_dose(dosage: Mapping[str, Any]) -> tuple[float, str] | None:
    """(amount a day, unit) from doseAndRate[].doseQuantity × doses a day; None when either is not stated."""
    per_day = doses_per_day(dosage)
    if per_day is None:
        return None
    for dr in one_or_many(dosage.get("doseAndRate")):
        dose = dr.get("doseQuantity") if isinstance(dr, Mapping) else None
        if isinstance(dose, Mapping) and isinstance(dose.get("value"), (int, float)) and dose["value"] > 0:
            return dose["value"] * per_day, _unit_of(dose)
    return None


def supply_from_quantity(quantity: Any, dosages: Iterable[Any]) -> int | None:
    """Days a dispensed quantity lasts at the prescribed daily dose (quantity ÷ daily dose), when units agree."""
    if (
        not isinstance(quantity, Mapping)
        or not isinstance(quantity.get("value"), (int, float))
        or quantity["value"] <= 0
    ):
        return None
    for dosage in dosages:
        if not isinstance(dosage, Mapping):
            continue
        daily = daily_dose(dosage)
        if daily is None:
            continue
        amount, unit = daily
        q_unit = _unit_of(quantity)
        if unit and q_unit and unit != q_unit:  # 60 tablets vs 800 mg a dose: not divisible without strength
            continue
        days = int(quantity["value"] // amount) if amount > 0 else 0
        return days if days >= 1 else None
    return None


def stated_duration(dosages: Iterable[Any]) -> tuple[int | None, Interval | None]:
    """A duration the dosage states: (days from boundsDuration or text, or None; boundsPeriod interval, or None)."""
    for dosage in dosages:
        if not isinstance(dosage, Mapping):
            continue
        repeat = _repeat(dosage)
        bounds = repeat.get("boundsPeriod")
        if isinstance(bounds, Mapping):
            lo, hi = parse_date(bounds.get("start")), parse_date(bounds.get("end"))
            if lo and hi and hi >= lo:
                return None, (lo, hi)
        days = duration_days(repeat.get("boundsDuration"))
        if days:
            return days, None
        for text in (dosage.get("text"), dosage.get("patientInstruction")):
            m = _STATED.search(str(text or ""))
            if m:
                factor = {"d": 1, "w": 7, "m": 30}[m.group(2)[0].lower()]
                n = int(round(float(m.group(1)) * factor))
                if n >= 1:
                    return n, None
    return None, None


def bounds_start(dosages: Iterable[Any]) -> date | None:
    for dosage in dosages:
        if isinstance(dosage, Mapping):
            bounds = _repeat(dosage).get("boundsPeriod")
            if isinstance(bounds, Mapping) and parse_date(bounds.get("start")):
                return parse_date(bounds.get("start"))
    return None


def clip(interval: Interval, start: date, end: date) -> Interval | None:
    lo, hi = max(interval[0], start), min(interval[1], end)
    return (lo, hi) if lo <= hi else None


def union_days(intervals: Iterable[Interval], start: date, end: date) -> int:
    """Days covered by the union of inclusive intervals, clipped to [start, end]: overlaps and repeats count once."""
    clipped = sorted(c for i in intervals if i[0] <= i[1] and (c := clip(i, start, end)))
    days, cursor = 0, None
    for lo, hi in clipped:
        if cursor is not None and lo <= cursor:
            lo = cursor + timedelta(days=1)
        if lo <= hi:
            days += (hi - lo).days + 1
        cursor = hi if cursor is None else max(cursor, hi)
    return days


def span_days(first: date, last: date) -> int:
    """A trial's length from first to last dated treatment (contract §4: first to last, not inclusive days)."""
    return (last - first).days
