"""Read-only queries of the admin console (api/admin.py): calls over time, decisions, feedback, clients, FHIR servers.

Separate from store.py (which writes): everything here is a SELECT, on SQLite or PostgreSQL, through the same
connection helpers. Statements are written once with `?` placeholders and run on both databases. Filtering by
time, hook, client, status and the search keys happens in SQL (indexed columns); what lives inside the JSON
columns (decisions per procedure, criteria, override reasons) is read in Python, so no JSON dialect is needed.
Aggregates read at most MAX_ROWS calls of the chosen range (the newest); the page says when it was cut.
"""
from __future__ import annotations

import json
import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from cds_service.settings import DatabaseUrl
from cds_service.storage.postgres_connections import PostgresConnections
from cds_service.storage.sqlite_connections import ThreadLocalConnections

MAX_ROWS = 50_000  # calls read for one set of charts: bounded memory and time whatever the range
NO_CLIENT = "-"  # the filter value of calls without a verified client (CDS_AUTH=off)
DECISIONS = ("covered", "conditional", "not-covered", "indeterminate")


@dataclass(frozen=True)
class CallFilter:
    """What the admin narrowed the console to. Times are epoch seconds (UTC), `until` exclusive."""

    since: float | None = None
    until: float | None = None
    hook: str | None = None
    decision: str | None = None
    client: str | None = None  # an iss, or NO_CLIENT
    status: str | None = None  # "answered", "refused", "fhir-failure", or an HTTP status code
    patient_hash: str | None = None
    order_id: str | None = None
    hook_instance: str | None = None
    audit_id: int | None = None

    @property
    def narrows_to_answered(self) -> bool:
        """Refused calls have no hook, decision, patient or order: any of those filters leaves only answered ones."""
        return bool(self.hook or self.decision or self.patient_hash or self.order_id or self.hook_instance
                    or self.audit_id is not None or self.status in ("answered", "fhir-failure")
                    or (self.status or "").startswith("2"))


@dataclass
class Bucket:
    start: float
    answered: int = 0
    refused: int = 0
    fhir_failures: int = 0
    durations: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"start": self.start, "answered": self.answered, "refused": self.refused,
                "fhirFailures": self.fhir_failures, "p50": percentile(self.durations, 50),
                "p95": percentile(self.durations, 95)}


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (what an admin can check by hand: the p95 of 20 calls is the 19th fastest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Reader:
    """One backend's connections; `rows` runs a `?`-placeholder SELECT and returns dicts."""

    def __init__(self, database: DatabaseUrl) -> None:
        self.kind = database.kind
        if database.kind == "postgresql":
            self._postgres: PostgresConnections | None = PostgresConnections(database.location, max_size=4)
            self._sqlite: ThreadLocalConnections | None = None
        else:
            self._postgres = None
            self._sqlite = ThreadLocalConnections(str(database.sqlite_path))

    @contextmanager
    def _connection(self) -> Iterator[tuple[Any, str]]:
        if self._postgres is not None:
            with self._postgres.connection() as connection:
                yield connection, "%s"
        else:
            assert self._sqlite is not None
            yield self._sqlite.get(), "?"

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._connection() as (connection, placeholder):
            cursor = connection.execute(statement.replace("?", placeholder), tuple(params))
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def columns(self, table: str) -> set[str]:
        """The columns a table has now (another release may have added some); empty when it does not exist."""
        if self._postgres is not None:
            found = self.rows("SELECT column_name FROM information_schema.columns WHERE table_name = ?"
                              " AND table_schema = current_schema()", (table,))
            return {str(r["column_name"]) for r in found}
        with self._connection() as (connection, _):
            try:
                return {str(r[1]) for r in connection.execute(f"PRAGMA table_info({table})")}
            except sqlite3.Error:
                return set()


def _range_and_client(f: CallFilter, table: str = "") -> tuple[list[str], list[Any]]:
    """The clauses every table's filter shares: the date range and the client (`table`: a column prefix)."""
    clauses: list[str] = []
    params: list[Any] = []
    if f.since is not None:
        clauses.append(f"{table}at >= ?")
        params.append(f.since)
    if f.until is not None:
        clauses.append(f"{table}at < ?")
        params.append(f.until)
    if f.client == NO_CLIENT:
        clauses.append(f"{table}client IS NULL")
    elif f.client:
        clauses.append(f"{table}client = ?")
        params.append(f.client)
    return clauses, params


class ConsoleQueries:
    def __init__(self, database: DatabaseUrl) -> None:
        self._db = _Reader(database)
        self._order_table: bool | None = None
        self._feedback_cols: set[str] | None = None
        self._cards: tuple[str, str, str] | None | bool = False  # False: not looked up yet

    # -- WHERE clauses built from a filter (only placeholders carry values)
    def _has_order_table(self) -> bool:
        """audit_order (schema 0002): one row per order id and call, indexed; before it, the decisions JSON."""
        if self._order_table is None:
            self._order_table = {"order_id", "audit_id"} <= self._db.columns("audit_order")
        return self._order_table

    def _audit_where(self, f: CallFilter) -> tuple[str, list[Any]]:
        clauses, params = _range_and_client(f)
        for column, value in (("hook", f.hook), ("patient_hash", f.patient_hash), ("hook_instance", f.hook_instance),
                              ("id", f.audit_id)):
            if value is not None and value != "":
                clauses.append(f"{column} = ?")
                params.append(value)
        if f.decision:  # decisions is json.dumps output: '"decision": "covered"' cannot match "not-covered"
            clauses.append("decisions LIKE ? ESCAPE '\\'")
            params.append(f'%"decision": "{_like_escape(f.decision)}"%')
        if f.order_id and self._has_order_table():
            clauses.append("id IN (SELECT audit_id FROM audit_order WHERE order_id = ?)")
            params.append(f.order_id)
        elif f.order_id:
            clauses.append("decisions LIKE ? ESCAPE '\\'")
            params.append(f'%"{_like_escape(f.order_id)}"%')
        if f.status == "fhir-failure":
            clauses.append("technical_problem IS NOT NULL")
        elif f.status == "refused":
            clauses.append("status >= 400")
        elif f.status and f.status.isdigit():
            clauses.append("status = ?")
            params.append(int(f.status))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    @staticmethod
    def _refusal_where(f: CallFilter) -> tuple[str, list[Any]] | None:
        """None when the filter excludes every refused call."""
        if f.narrows_to_answered:
            return None
        # Hook, feedback and other service calls; the admin pages' own refusals (sign-in) are counted in metrics.
        clauses, params = _range_and_client(f)
        clauses.append("route NOT LIKE ?")
        params.append("/admin%")
        if f.status and f.status.isdigit():
            clauses.append("status = ?")
            params.append(int(f.status))
        return " WHERE " + " AND ".join(clauses), params

    def _answered_only(self, f: CallFilter) -> CallFilter:
        """The audit part of a filter: 'refused' selects refusal rows, not audit rows."""
        return replace(f, status=None) if f.status == "refused" else f

    # -- the calls list (answered and refused, newest first, paginated)
    def calls_page(self, f: CallFilter, *, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
        parts: list[str] = []
        params: list[Any] = []
        if f.status != "refused":
            where, p = self._audit_where(f)
            parts.append("SELECT 'call' AS kind, id, at, hook, client, status, duration_ms, decisions,"
                         " technical_problem, NULL AS reason, service_id FROM audit" + where)
            params += p
        refusal = self._refusal_where(f)
        if refusal is not None:
            parts.append("SELECT 'refusal' AS kind, id, at, route AS hook, client, status, NULL AS duration_ms,"
                         " NULL AS decisions, NULL AS technical_problem, reason, service_id FROM refusal" + refusal[0])
            params += refusal[1]
        if not parts:
            return [], 0
        union = " UNION ALL ".join(parts)
        total = int(self._db.rows(f"SELECT COUNT(*) AS n FROM ({union}) AS calls", params)[0]["n"])
        rows = self._db.rows(f"SELECT * FROM ({union}) AS calls ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
                             [*params, per_page, max(0, page - 1) * per_page])
        for row in rows:
            row["decisions"] = json.loads(row["decisions"]) if row["decisions"] else []
        return rows, total

    def _audit_rows(self, f: CallFilter, columns: str) -> tuple[list[dict[str, Any]], bool]:
        where, params = self._audit_where(self._answered_only(f))
        if f.status == "refused":
            return [], False
        rows = self._db.rows(f"SELECT {columns} FROM audit{where} ORDER BY at DESC LIMIT ?", [*params, MAX_ROWS + 1])
        return rows[:MAX_ROWS], len(rows) > MAX_ROWS

    def _refusal_rows(self, f: CallFilter) -> list[dict[str, Any]]:
        refusal = self._refusal_where(f)
        if refusal is None:
            return []
        return self._db.rows(f"SELECT at, client, status, reason FROM refusal{refusal[0]} ORDER BY at DESC LIMIT ?",
                             [*refusal[1], MAX_ROWS])

    # -- everything the overview charts and tables show, from one read of the range
    def overview(self, f: CallFilter, *, bucket_s: int) -> dict[str, Any]:
        calls, truncated = self._audit_rows(f, "at, client, status, duration_ms, decisions, technical_problem, detail")
        refusals = self._refusal_rows(f)
        buckets: dict[float, Bucket] = {}

        def bucket(at: float) -> Bucket:
            start = math.floor(at / bucket_s) * bucket_s
            return buckets.setdefault(start, Bucket(start))

        by_revision: dict[str, Counter[str]] = defaultdict(Counter)
        by_criterion: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        clients: dict[str, dict[str, Any]] = {}
        servers: dict[str, dict[str, Any]] = {}

        def client_row(name: str | None) -> dict[str, Any]:
            key = name or NO_CLIENT
            return clients.setdefault(key, {"client": key, "calls": 0, "refused": 0, "fhirFailures": 0,
                                            "durations": [], "decisions": Counter()})

        for call in calls:
            b = bucket(call["at"])
            b.answered += 1
            b.durations.append(float(call["duration_ms"]))
            c = client_row(call["client"])
            c["calls"] += 1
            c["durations"].append(float(call["duration_ms"]))
            detail = json.loads(call["detail"] or "{}")
            fetched = bool(detail.get("fetchedKeys"))
            server = detail.get("fhirServer") or ("(not recorded)" if fetched else "(prefetch only)")
            s = servers.setdefault(server, {"server": server, "calls": 0, "failures": 0, "problems": Counter()})
            s["calls"] += 1
            if call["technical_problem"]:
                b.fhir_failures += 1
                c["fhirFailures"] += 1
                s["failures"] += 1
                s["problems"].update(_problem_parts(str(call["technical_problem"])))
            for d in json.loads(call["decisions"] or "[]"):
                revision = d.get("revision") or "none"
                decision = d.get("decision") or "none"
                by_revision[revision][decision] += 1
                c["decisions"][decision] += 1
                for criterion in d.get("notMet", []):
                    by_criterion[(revision, criterion)]["notMet"] += 1
                for criterion in d.get("needsDocumentation", []):
                    by_criterion[(revision, criterion)]["needsDocumentation"] += 1
        refused_by_reason: Counter[str] = Counter()
        for r in refusals:
            bucket(r["at"]).refused += 1
            client_row(r["client"])["refused"] += 1
            refused_by_reason[f"{r['status']} {r['reason']}"] += 1

        ranked = sorted(by_criterion.items(),
                        key=lambda item: (-(item[1]["notMet"] + item[1]["needsDocumentation"]), item[0]))
        if f.since is not None and f.until is not None and (f.until - f.since) / bucket_s <= 400:
            start = math.floor(f.since / bucket_s) * bucket_s
            while start < f.until:  # empty periods too: the time axis is the range asked for
                buckets.setdefault(start, Bucket(start))
                start += bucket_s
        criteria = [{"revision": rev, "criterion": crit, "notMet": n["notMet"],
                     "needsDocumentation": n["needsDocumentation"]} for (rev, crit), n in ranked]
        return {
            "calls": len(calls),
            "refused": len(refusals),
            "fhirFailures": sum(b.fhir_failures for b in buckets.values()),
            "p50": percentile([float(c["duration_ms"]) for c in calls], 50),
            "p95": percentile([float(c["duration_ms"]) for c in calls], 95),
            "truncated": truncated,
            "series": [buckets[k].summary() for k in sorted(buckets)],
            "byRevision": {rev: dict(counts) for rev, counts in sorted(by_revision.items())},
            "byCriterion": criteria,
            "clients": [
                {"client": c["client"], "calls": c["calls"], "refused": c["refused"], "fhirFailures": c["fhirFailures"],
                 "p50": percentile(c["durations"], 50), "p95": percentile(c["durations"], 95),
                 "decisions": dict(c["decisions"])}
                for c in sorted(clients.values(), key=lambda c: (-c["calls"] - c["refused"], c["client"]))],
            "fhirServers": [
                {"server": s["server"], "calls": s["calls"], "failures": s["failures"],
                 "problems": s["problems"].most_common()}
                for s in sorted(servers.values(), key=lambda s: (-s["failures"], -s["calls"], s["server"]))],
            "refusedByReason": refused_by_reason.most_common(),
        }

    # -- feedback: outcomes joined to the issued cards they answer
    def feedback(self, f: CallFilter) -> dict[str, Any]:
        clauses, params = _range_and_client(f, "f.")
        cards = self._card_table()
        # Hook, decision, patient, order, hookInstance, status: those of the call whose card the feedback answers.
        calls = replace(f, since=None, until=None, client=None)
        narrows = calls != CallFilter()
        if cards is not None and narrows:
            if f.status == "refused":
                clauses.append("1 = 0")  # a refused call issued no card
            else:
                call_where, call_params = self._audit_where(calls)
                clauses.append(f"c.{cards[2]} IN (SELECT id FROM audit{call_where})")
                params += call_params
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        # card_issued (schema 0003): 0 when the card was never issued to the client that sent the feedback
        issued = "f.card_issued" if "card_issued" in self._feedback_columns() else "1"
        if cards is None:
            rows = self._db.rows(f"SELECT f.card, f.outcome, f.override_reason, f.client, NULL AS audit_id,"
                                 f" NULL AS decisions, {issued} AS issued FROM feedback f{where}"
                                 " ORDER BY f.at DESC LIMIT ?", [*params, MAX_ROWS])
        else:
            table, card_column, audit_column = cards
            rows = self._db.rows(
                f"SELECT f.card, f.outcome, f.override_reason, f.client, a.id AS audit_id, a.decisions,"
                f" {issued} AS issued FROM feedback f LEFT JOIN {table} c ON c.{card_column} = f.card"
                f" LEFT JOIN audit a ON a.id = c.{audit_column}{where} ORDER BY f.at DESC LIMIT ?",
                [*params, MAX_ROWS])
        outcomes: Counter[str] = Counter()
        by_decision: dict[str, Counter[str]] = defaultdict(Counter)
        reasons: Counter[str] = Counter()
        unknown = 0
        for row in rows:
            if cards is not None and (row["audit_id"] is None or not row["issued"]):
                unknown += 1  # a card uuid never issued (to this client): kept apart, out of the rates
                continue
            outcomes[row["outcome"]] += 1
            decisions = {d.get("decision") or "none" for d in json.loads(row["decisions"] or "[]")}
            for decision in decisions or {"(card not linked)"}:
                by_decision[decision][row["outcome"]] += 1
            if row["outcome"] == "overridden":
                reasons[_override_reason(row["override_reason"])] += 1
        total = sum(outcomes.values())
        return {
            "total": total,
            "accepted": outcomes["accepted"],
            "overridden": outcomes["overridden"],
            "acceptRate": outcomes["accepted"] / total if total else None,
            "overrideRate": outcomes["overridden"] / total if total else None,
            "byDecision": {d: {"accepted": c["accepted"], "overridden": c["overridden"],
                               "acceptRate": c["accepted"] / sum(c.values()) if sum(c.values()) else None}
                           for d, c in sorted(by_decision.items())},
            "overrideReasons": reasons.most_common(),
            "unknownCards": unknown,
            "linked": cards is not None,
            "unfiltered": cards is None and narrows,  # hook/decision/... filters could not be applied
        }

    def _feedback_columns(self) -> set[str]:
        if self._feedback_cols is None:
            self._feedback_cols = self._db.columns("feedback")
        return self._feedback_cols

    def _card_table(self) -> tuple[str, str, str] | None:
        """Where issued card uuids are stored (schema 0002: issued_card), as (table, uuid column, audit id column);
        None on a database from before it, where feedback cannot be joined to its cards."""
        if self._cards is False:
            found = {"card_uuid", "audit_id"} <= self._db.columns("issued_card")
            self._cards = ("issued_card", "card_uuid", "audit_id") if found else None
        return self._cards  # type: ignore[return-value]

    # -- one call, for the decision page
    def call(self, audit_id: int) -> dict[str, Any] | None:
        found = self._db.rows("SELECT * FROM audit WHERE id = ?", (audit_id,))
        if not found:
            return None
        call = found[0]
        call["decisions"] = json.loads(call["decisions"] or "[]")
        call["detail"] = json.loads(call["detail"] or "{}")
        assertions = self._db.rows("SELECT * FROM assertion WHERE audit_id = ? ORDER BY assertion_id", (audit_id,))
        for a in assertions:
            a["order_ids"] = json.loads(a["order_ids"])
            a["criteria"] = json.loads(a["criteria"])
        call["assertions"] = assertions
        cards = self._card_table()
        call["cards"] = [] if cards is None else [str(r["card_uuid"]) for r in self._db.rows(
            "SELECT card_uuid FROM issued_card WHERE audit_id = ? ORDER BY card_uuid", (audit_id,))]
        call["feedback"] = [] if cards is None else self._db.rows(
            f"SELECT f.at, f.card, f.outcome, f.override_reason, f.client FROM feedback f"
            f" JOIN {cards[0]} c ON c.{cards[1]} = f.card WHERE c.{cards[2]} = ? ORDER BY f.at", (audit_id,))
        for fb in call["feedback"]:
            fb["reason"] = _override_reason(fb["override_reason"]) if fb["override_reason"] else None
        return call

    def audit_id_of_assertion(self, assertion_id: str) -> int | None:
        rows = self._db.rows("SELECT audit_id FROM assertion WHERE assertion_id = ?", (assertion_id,))
        return int(rows[0]["audit_id"]) if rows and rows[0]["audit_id"] is not None else None

    def choices(self, f: CallFilter | None = None) -> dict[str, list[Any]]:
        """Values the filter drop-downs offer: the hooks, clients and statuses seen in the range (indexed by time)."""
        clauses, params = [], []
        if f is not None and f.since is not None:
            clauses.append("at >= ?")
            params.append(f.since)
        if f is not None and f.until is not None:
            clauses.append("at < ?")
            params.append(f.until)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        audit = self._db.rows(f"SELECT DISTINCT hook, client, status FROM audit{where}", params)
        refusal = self._db.rows(f"SELECT DISTINCT client, status FROM refusal{where}", params)
        return {"hooks": sorted({str(r["hook"]) for r in audit}),
                "clients": sorted({r["client"] or NO_CLIENT for r in audit + refusal}),
                "statuses": sorted({int(r["status"]) for r in audit + refusal})}


def _problem_parts(problem: str) -> set[str]:
    """The distinct failures of one call ("Condition search: HTTP 503; Coverage search: timed out"), each cut to
    a bounded length. The service writes them without tokens, bodies or query strings (fhir_access.client)."""
    return {part.strip()[:100] for part in problem.split(";") if part.strip()} or {"unknown"}


def _override_reason(stored: str | None) -> str:
    """CDS Hooks overrideReason: {reason: Coding, userComment}. The coding's display (or code) names the reason."""
    if not stored:
        return "(no reason given)"
    try:
        value = json.loads(stored)
    except ValueError:
        return "(unreadable reason)"
    reason = value.get("reason") if isinstance(value, dict) else None
    if isinstance(reason, dict):
        return str(reason.get("display") or reason.get("code") or "(no reason given)")[:120]
    return "(no reason given)"
