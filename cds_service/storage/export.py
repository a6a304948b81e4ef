"""Export of the audit for a date range, as CSV or NDJSON, streamed (a year of calls never sits in memory).

One record per call (`kind` "call"), per refused call (`kind` "refusal") and per feedback item (`kind`
"feedback": its card uuid, outcome, override reason code and whether the card was one this service issued
to that client), in time order. What leaves the database is what a reviewer needs and nothing that
identifies a patient: the keyed patient hash, never a raw id; decisions without the order ids (`orders` is
dropped); no request bodies, tokens or `detail` (which names resources); of feedback, the reason code but
never the clinician's free-text `userComment`. Card uuids and coverage-assertion-ids are the service's own
random ids.

Dates are UTC days, both ends included: `--from 2026-11-01 --to 2026-11-30` is all of November (UTC).
"""
from __future__ import annotations

import csv
import heapq
import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from cds_service.storage.store import Store

Format = Literal["csv", "ndjson"]
FORMATS: tuple[Format, ...] = ("csv", "ndjson")
PAGE = 500  # rows read per query

COLUMNS = ("kind", "id", "at", "request_id", "service_id", "hook", "hook_instance", "method", "route", "client",
           "patient_hash", "status", "reason", "duration_ms", "decisions", "technical_problem", "assertion_ids",
           "card_uuids", "outcome", "override_reason", "card_issued")
_DECISION_KEYS = ("procedure", "revision", "decision", "notMet", "needsDocumentation")


def day_range(first: date, last: date) -> tuple[float, float]:
    """[start of `first`, start of the day after `last`) in epoch seconds, UTC."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return start.timestamp(), end.timestamp()


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pages(store: Store, table: str, columns: str, since: float, until: float) -> Iterator[dict[str, Any]]:
    """Rows of `table` with since <= at < until, by (at, id), one page per query (keyset paging)."""
    after: tuple[float, int] | None = None
    while True:
        keyset = " AND (at > ? OR (at = ? AND id > ?))" if after else ""
        params: list[Any] = [since, until, *((after[0], after[0], after[1]) if after else ()), PAGE]
        with store._db.session() as db:  # noqa: SLF001 - storage's own module
            rows = db.rows(f"SELECT {columns} FROM {table} WHERE at >= ? AND at < ?{keyset} ORDER BY at, id LIMIT ?",
                           params)
        yield from rows
        if len(rows) < PAGE:
            return
        after = (rows[-1]["at"], rows[-1]["id"])


def _calls(store: Store, since: float, until: float) -> Iterator[dict[str, Any]]:
    columns = ("id, at, request_id, service_id, hook, hook_instance, client, patient_hash, status, duration_ms,"
               " decisions, technical_problem")
    batch: list[dict[str, Any]] = []
    for row in _pages(store, "audit", columns, since, until):
        batch.append(row)
        if len(batch) == PAGE:
            yield from _with_ids(store, batch)
            batch = []
    yield from _with_ids(store, batch)


def _with_ids(store: Store, rows: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows with their coverage-assertion-ids and card uuids, two queries per batch."""
    if not rows:
        return
    ids = [int(r["id"]) for r in rows]
    marks = ",".join("?" for _ in ids)
    with store._db.session() as db:  # noqa: SLF001
        assertions = db.rows(f"SELECT audit_id, assertion_id FROM assertion WHERE audit_id IN ({marks})"
                             " ORDER BY assertion_id", ids)
        cards = db.rows(f"SELECT audit_id, card_uuid FROM issued_card WHERE audit_id IN ({marks})"
                        " ORDER BY card_uuid", ids)
    by_call: dict[int, dict[str, list[str]]] = {i: {"assertion_ids": [], "card_uuids": []} for i in ids}
    for a in assertions:
        by_call[int(a["audit_id"])]["assertion_ids"].append(str(a["assertion_id"]))
    for c in cards:
        by_call[int(c["audit_id"])]["card_uuids"].append(str(c["card_uuid"]))
    for row in rows:
        try:
            decisions = json.loads(row["decisions"] or "[]")
        except ValueError:
            decisions = []
        yield {
            "kind": "call", **{k: row[k] for k in ("id", "at", "request_id", "service_id", "hook", "hook_instance",
                                                  "client", "patient_hash", "status")},
            "duration_ms": round(float(row["duration_ms"]), 1),
            "decisions": [{k: d.get(k) for k in _DECISION_KEYS} for d in decisions if isinstance(d, dict)],
            "technical_problem": row["technical_problem"],
            **by_call[int(row["id"])],
        }


def _refusals(store: Store, since: float, until: float) -> Iterator[dict[str, Any]]:
    for row in _pages(store, "refusal", "id, at, request_id, method, route, service_id, client, status, reason",
                      since, until):
        yield {"kind": "refusal", **row}


def _reason_code(stored: str | None) -> str | None:
    try:
        reason = (json.loads(stored) or {}).get("reason") if stored else None
    except (ValueError, AttributeError):
        return None
    code = reason.get("code") if isinstance(reason, dict) else None
    return str(code) if code is not None else None


def _feedback(store: Store, since: float, until: float) -> Iterator[dict[str, Any]]:
    for row in _pages(store, "feedback", "id, at, service_id, client, card, card_issued, outcome, override_reason",
                      since, until):
        issued = row["card_issued"]
        yield {"kind": "feedback", "id": row["id"], "at": row["at"], "service_id": row["service_id"],
               "client": row["client"], "card_uuids": [str(row["card"])], "outcome": row["outcome"],
               "override_reason": _reason_code(row["override_reason"]),
               "card_issued": None if issued is None else bool(issued)}


def records(store: Store, since: float, until: float) -> Iterator[dict[str, Any]]:
    """Calls, refusals and feedback with since <= at < until, merged in time order; `at` as ISO 8601 UTC."""
    merged = heapq.merge(_calls(store, since, until), _refusals(store, since, until), _feedback(store, since, until),
                         key=lambda r: r["at"])
    for record in merged:
        yield {column: record.get(column) for column in COLUMNS} | {"at": _iso(float(record["at"]))}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        text = json.dumps(value, separators=(",", ":")) if value and isinstance(value[0], dict) else " ".join(value)
    else:
        text = str(value)
    # A spreadsheet runs a cell that starts like a formula (OWASP "CSV injection"); client-sent text may.
    return "'" + text if text[:1] in ("=", "+", "@", "\t", "\r") or (text[:1] == "-" and len(text) > 1) else text


def as_csv(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in items:
        writer.writerow([_cell(item[c]) for c in COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def as_ndjson(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield json.dumps(item, separators=(",", ":"), ensure_ascii=False) + "\n"


def export(store: Store, first: date, last: date, fmt: Format) -> Iterator[str]:
    """The text of the export of UTC days first..last (both included), in chunks."""
    since, until = day_range(first, last)
    items = records(store, since, until)
    return as_csv(items) if fmt == "csv" else as_ndjson(items)
