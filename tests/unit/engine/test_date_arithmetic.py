"""Property tests for calendar arithmetic and the inclusive thresholds built on it."""
from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cds_service.evaluation.dates import add_months, months_before, parse_date
from tests.support.criteria_tables import result
from tests.support.fhir_builders import condition, interference, order, patient

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))
months = st.integers(min_value=0, max_value=36)


@given(days, months)
def test_adding_months_moves_the_calendar_month(day, n):
    later = add_months(day, n)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == n
    assert later.day == day.day or later.day < day.day  # clamped only at month end
    assert later >= day


@given(days, months)
def test_months_before_then_after_never_overshoots(day, n):
    assert add_months(months_before(day, n), n) <= day


@given(days, st.integers(min_value=1, max_value=12))
def test_month_end_is_clamped(day, n):
    later = add_months(date(day.year, day.month, 1), n)
    assert later.day == 1


@given(st.integers(min_value=0, max_value=365))
def test_pain_duration_threshold_is_inclusive_and_monotonic(extra_days):
    dos = date(2026, 11, 20)
    onset = months_before(dos, 3) - timedelta(days=extra_days)
    records = [patient(), condition("M47.816", onset), interference(5, dos - timedelta(days=5))]
    assert result("I.A.1.a", records, order(day=dos)) == "met"


@given(st.integers(min_value=1, max_value=80))
def test_pain_shorter_than_three_months_is_never_met(short_by):
    dos = date(2026, 11, 20)
    onset = months_before(dos, 3) + timedelta(days=short_by)
    records = [patient(), condition("M47.816", onset), interference(5, dos - timedelta(days=5))]
    assert result("I.A.1.a", records, order(day=dos)) == "not-met"


@given(st.text(max_size=30))
def test_parse_date_never_raises(text):
    parse_date(text)
