"""When a condition began and whether it is the current episode (contract §4 "Pain duration and exclusions").

An onset is an interval [earliest, latest] because real records state it at different precisions: a year,
a month, an age in years, a free-text "since March 2025". A duration criterion is *met* when even the latest
possible onset is old enough and *not met* only when even the earliest possible onset is too recent; in
between, or with no onset at all (a `recordedDate` is when it was written down, not when it began), the
duration is documentation.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds_service.evaluation.dates import add_months, parse_date
from cds_service.evaluation.record import INACTIVE_CLINICAL, PatientRecord, Resource, status_code

# Unconfirmed diagnoses (condition-ver-status): they raise a question, they do not establish anything.
UNCONFIRMED = frozenset({"unconfirmed", "provisional", "differential"})
REFUTED = frozenset({"refuted", "entered-in-error"})
# An active-again condition whose onset[x] is the first episode's: the current episode's start is unknown.
RECURRED = frozenset({"recurrence", "relapse"})

_MONTHS = (
    {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
    | {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
    | {"sept": 9}
)
_UNIT_DAYS = {"day": 1, "days": 1, "d": 1, "week": 7, "weeks": 7, "wk": 7, "wks": 7}
_UNIT_MONTHS = {"month": 1, "months": 1, "mo": 1, "mos": 1, "year": 12, "years": 12, "yr": 12, "yrs": 12, "y": 12}
_RELATIVE = re.compile(
    r"\b(?:(?:for|x|×|past|last)\s+)?(\d{1,3})\s*(days?|d|weeks?|wks?|wk|months?|mos?|years?|yrs?|yr|y)\b(\s+ago)?",
    re.I,
)
_ISO = re.compile(r"\b(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?\b")
_MONTH_YEAR = re.compile(r"\b([a-z]{3,9})\.?\s+(\d{4})\b", re.I)


@dataclass(frozen=True)
class Onset:
    earliest: date | None  # None: could be any time before `latest`
    latest: date | None  # None: no stated bound (the duration cannot be shown)
    source: str  # the field it came from, for the reason text

    @property
    def text(self) -> str:
        if self.earliest and self.earliest == self.latest:
            return self.earliest.isoformat()
        if self.earliest and self.latest:
            return f"{self.earliest} to {self.latest}"
        return "not recorded"


def _last_day(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def date_interval(value: Any) -> tuple[date, date] | None:
    """A FHIR date/dateTime at its own precision: '2025' → the whole year, '2025-09' → the whole month."""
    day = parse_date(value)
    if day is None:
        return None
    if len(value) == 4:
        return day, date(day.year, 12, 31)
    if len(value) == 7:
        return day, _last_day(day.year, day.month)
    return day, day


def _age_interval(age: Any, birth: date | None) -> tuple[date, date] | None:
    """An Age (years by default) from the birth date: age 45 = from the 45th birthday to the day before the 46th."""
    if birth is None or not isinstance(age, Mapping) or not isinstance(age.get("value"), (int, float)):
        return None
    unit = str(age.get("code") or age.get("unit") or "a").lower().rstrip(".")
    value = float(age["value"])
    whole = int(value)
    if unit in ("a", "yr", "yrs", "year", "years", "y"):
        lo = add_months(birth, int(round(value * 12)))
        return lo, (add_months(birth, (whole + 1) * 12) - timedelta(days=1)) if value == whole else lo
    if unit in ("mo", "month", "months"):
        lo = add_months(birth, whole)
        return lo, add_months(birth, whole + 1) - timedelta(days=1)
    if unit in ("wk", "week", "weeks", "d", "day", "days"):
        lo = birth + timedelta(days=int(value * (7 if unit.startswith("w") else 1)))
        return lo, lo
    return None


def _string_interval(text: str, recorded: date | None) -> tuple[date, date] | None:
    """onsetString stating a date ('2025-09', 'since March 2025') or an interval relative to `recordedDate`
    ('6 months ago', 'for 2 years'). Anything else (e.g. 'childhood', 'after a fall') is no onset."""
    m = _MONTH_YEAR.search(text)
    if m and m.group(1).lower() in _MONTHS:
        y, month = int(m.group(2)), _MONTHS[m.group(1).lower()]
        return date(y, month, 1), _last_day(y, month)
    m = _ISO.search(text)
    if m and 1900 <= int(m.group(1)) <= 2100:
        year, mo, d = int(m.group(1)), m.group(2), m.group(3)
        try:
            if d:
                day = date(year, int(mo), int(d))
                return day, day
            if mo:
                return date(year, int(mo), 1), _last_day(year, int(mo))
        except ValueError:
            return None
        return date(year, 1, 1), date(year, 12, 31)
    m = _RELATIVE.search(text)
    if m and recorded is not None:
        n, unit = int(m.group(1)), m.group(2).lower()
        if unit in _UNIT_DAYS:
            day = recorded - timedelta(days=n * _UNIT_DAYS[unit])
            return day, day
        if unit in _UNIT_MONTHS:
            day = add_months(recorded, -n * _UNIT_MONTHS[unit])
            return day, day
    return None


def birth_date(record: PatientRecord) -> date | None:
    for p in record.of_type("Patient"):
        if (day := parse_date(p.get("birthDate"))) is not None:
            return day
    return None


def onset_of(condition: Resource, birth: date | None = None) -> Onset:
    """The Condition's onset[x] as an interval; `recordedDate` is not an onset."""
    interval: tuple[date, date] | None = None
    source = "no onset"
    if (interval := date_interval(condition.get("onsetDateTime"))) is not None:
        source = "onsetDateTime"
    elif (
        isinstance(period := condition.get("onsetPeriod"), Mapping)
        and (interval := date_interval(period.get("start"))) is not None
    ):
        source = "onsetPeriod"
    elif (interval := _age_interval(condition.get("onsetAge"), birth)) is not None:
        source = "onsetAge"
    elif isinstance(rng := condition.get("onsetRange"), Mapping) and (low := _age_interval(rng.get("low"), birth)):
        high = _age_interval(rng.get("high"), birth)
        interval, source = (low[0], high[1] if high else low[1]), "onsetRange"
    elif isinstance(condition.get("onsetString"), str):
        interval = _string_interval(condition["onsetString"], parse_date(condition.get("recordedDate")))
        source = "onsetString" if interval else "onsetString without a date"
    if interval is None:
        return Onset(None, None, source)
    if status_code(condition.get("clinicalStatus")) in RECURRED:
        return Onset(interval[0], None, f"{source} (first episode; recurred)")
    return Onset(interval[0], interval[1], source)


def abatement_of(condition: Resource, birth: date | None = None) -> date | None:
    """The day the condition ended, if stated: abatementDateTime, abatementPeriod (end, else start),
    abatementAge, abatementString."""
    if (iv := date_interval(condition.get("abatementDateTime"))) is not None:
        return iv[0]
    period = condition.get("abatementPeriod")
    if isinstance(period, Mapping) and (iv := date_interval(period.get("end")) or date_interval(period.get("start"))):
        return iv[0]
    if (iv := _age_interval(condition.get("abatementAge"), birth)) is not None:
        return iv[0]
    if isinstance(condition.get("abatementString"), str):
        iv = _string_interval(condition["abatementString"], parse_date(condition.get("recordedDate")))
        return iv[0] if iv else None
    return None


def verification(condition: Resource) -> str:
    """'refuted' (refuted/entered-in-error), 'unconfirmed' (provisional/differential/unconfirmed) or 'established'.
    An absent verificationStatus is 'established': problem-list entries from most EHRs carry none."""
    code = status_code(condition.get("verificationStatus"))
    if code in REFUTED:
        return "refuted"
    return "unconfirmed" if code in UNCONFIRMED else "established"


def in_current_episode(condition: Resource, on: date, birth: date | None = None) -> bool:
    """Ongoing on the date: not ended by abatement[x] or by a resolved/inactive/remission status, not begun after it.
    An episode that ended, however long ago, is not the current one: a later diagnosis starts a new episode."""
    if verification(condition) == "refuted":
        return False
    ended = abatement_of(condition, birth)
    if ended is not None and ended <= on:
        return False
    if status_code(condition.get("clinicalStatus")) in INACTIVE_CLINICAL and ended is None:
        return False
    onset = onset_of(condition, birth)
    recorded = parse_date(condition.get("recordedDate"))
    begun = onset.earliest or recorded
    return begun is None or begun <= on


def duration_verdict(onsets: list[Onset], cutoff: date) -> str:
    """'met' if some episode condition surely began on or before `cutoff`; 'not met' if every one surely began
    after it; else 'documentation'."""
    if any(o.latest is not None and o.latest <= cutoff for o in onsets):
        return "met"
    if onsets and all(o.earliest is not None and o.earliest > cutoff for o in onsets):
        return "not met"
    return "documentation"
