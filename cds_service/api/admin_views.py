"""What the admin console pages need besides the queries: reading the filter form, words for codes, time labels."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cds_service.storage.console_queries import DECISIONS, CallFilter

PER_PAGE = 25
DEFAULT_DAYS = 7
HEX_HASH = re.compile(r"^[0-9a-f]{8,64}$")
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
HOOK_INSTANCE = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
SEARCH_KINDS = {"assertion": "coverage-assertion-id", "order": "order id", "hookInstance": "hookInstance",
                "patient": "patient id"}
STATUS_CHOICES = {"answered": "answered (200)", "refused": "refused (4xx)", "fhir-failure": "FHIR data failed"}
RESULT_WORDS = {"met": "met", "not-met": "not met", "needs-documentation": "needs documentation",
                "not-applicable": "not applicable"}
DECISION_WORDS = {"covered": "covered", "conditional": "conditional: documentation needed",
                  "not-covered": "not covered", "indeterminate": "indeterminate: FHIR data could not be had",
                  "none": "no decision (date before the earliest revision)"}


@dataclass
class ConsoleForm:
    """The console's query string, checked: a bad value is dropped with a note, never an error page."""

    filter: CallFilter
    page: int = 1
    start_day: date | None = None
    end_day: date | None = None
    values: dict[str, str] = field(default_factory=dict)  # what the form shows back
    problems: list[str] = field(default_factory=list)

    def url(self, **changes: Any) -> str:
        """This view's address with some values changed (pagination links keep the filters)."""
        merged = {**self.values, **{k: str(v) for k, v in changes.items()}}
        query = urlencode({k: v for k, v in merged.items() if v not in ("", None)})
        return "/admin" + (f"?{query}" if query else "")

    @property
    def bucket_s(self) -> int:
        span = (self.filter.until or 0) - (self.filter.since or 0)
        if span <= 2 * 86400:
            return 3600
        if span <= 31 * 86400:
            return 86400
        return 7 * 86400


def _day(text: str | None) -> date | None:
    if not text:
        return None
    return date.fromisoformat(text)


def read_form(args: Mapping[str, str], *, today: date | None = None) -> ConsoleForm:
    today = today or datetime.now(UTC).date()
    problems: list[str] = []
    values: dict[str, str] = {}

    def day(name: str, default: date) -> date:
        raw = (args.get(name) or "").strip()
        try:
            chosen = _day(raw) or default
        except ValueError:
            problems.append(f"'{name}' must be a date YYYY-MM-DD; showing {default.isoformat()}")
            chosen = default
        values[name] = chosen.isoformat()
        return chosen

    start = day("from", today - timedelta(days=DEFAULT_DAYS - 1))
    end = day("to", today)
    if end < start:
        problems.append("'to' is before 'from'; the two were swapped")
        start, end = end, start
        values["from"], values["to"] = start.isoformat(), end.isoformat()

    def choice(name: str, allowed: Any = None, pattern: re.Pattern[str] | None = None) -> str | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        if (allowed is not None and raw not in allowed) or (pattern is not None and not pattern.match(raw)) \
                or len(raw) > 300 or any(ord(ch) < 32 for ch in raw):
            problems.append(f"unknown {name} ignored")
            return None
        values[name] = raw
        return raw

    hook = choice("hook", pattern=re.compile(r"^[a-z-]{1,40}$"))
    decision = choice("decision", DECISIONS)
    client = choice("client")
    status = choice("status", pattern=re.compile(r"^(answered|refused|fhir-failure|[1-5][0-9][0-9])$"))
    patient = choice("patient", pattern=HEX_HASH)  # the keyed hash (search turns an id into it)
    order = choice("order", pattern=FHIR_ID)
    hook_instance = choice("hookInstance", pattern=HOOK_INSTANCE)
    try:
        page = max(1, min(int(args.get("page") or 1), 100_000))
    except ValueError:
        page = 1
    since = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    until = datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp() + 86400  # 'to' is inclusive
    f = CallFilter(since=since, until=until, hook=hook, decision=decision, client=client, status=status,
                   patient_hash=patient, order_id=order, hook_instance=hook_instance)
    return ConsoleForm(f, page, start, end, values, problems)


def utc(at: float | None, seconds: bool = True) -> str:
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def bucket_label(start: float, bucket_s: int) -> str:
    moment = datetime.fromtimestamp(start, UTC)
    return moment.strftime("%m-%d %H:00" if bucket_s < 86400 else "%Y-%m-%d")


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"
