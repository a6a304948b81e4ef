"""Calendar arithmetic as the contract defines it: calendar dates, calendar months, inclusive bounds."""
from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from typing import Any

UTC = UTC


def add_months(day: date, months: int) -> date:
    """Same day-of-month `months` later (negative: earlier), clamped to the month's last day."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def months_before(day: date, months: int) -> date:
    return add_months(day, -months)


def parse_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant string; None when absent or unreadable."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        if len(value) == 4:
            return date(int(value), 1, 1)
        if len(value) == 7:
            return date(int(value[:4]), int(value[5:7]), 1)
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_instant(value: Any) -> datetime | None:
    """A timezone-aware datetime when the string carries a time; None for date-only values."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
