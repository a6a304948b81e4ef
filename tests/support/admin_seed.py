"""A known audit database for the admin console tests: calls, refusals, assertions, cards and feedback.

Rows are written with SQL into a database the service's own Store created (so the schema is the service's),
with times spread over the last two days. The tests recompute every expected number from SEED_CALLS etc.
by hand-countable rules, and compare them with what the console shows.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from cds_service.settings import DatabaseUrl
from cds_service.storage.store import Store, patient_hash

HASH_KEY = "admin-console-test-hash-key-0123456789abcdef"  # CDS_HASH_KEY of the service under test
CLIENT_A = "https://ehr-a.test.example"
CLIENT_B = "https://ehr-b.test.example"
FHIR_A = "http://fhir-a.test/fhir"
FHIR_B = "http://fhir-b.test/fhir"
SEARCH_PATIENT = "pat-console-7"  # the raw id an admin types; only its hash is in the database
SEARCH_ORDER = "sr-console-12"


@dataclass
class SeedCall:
    index: int
    hours_ago: float
    hook: str
    client: str
    duration_ms: float
    revision: str
    decision: str
    not_met: list[str] = field(default_factory=list)
    needs_documentation: list[str] = field(default_factory=list)
    technical_problem: str | None = None
    fhir_server: str = FHIR_A
    patient: str = "pat-other"

    @property
    def order_id(self) -> str:
        return f"sr-console-{self.index}"

    @property
    def assertion_id(self) -> str:
        return f"assert-console-{self.index}"

    @property
    def card_uuid(self) -> str:
        return f"card-console-{self.index}"

    @property
    def hook_instance(self) -> str:
        return f"00000000-0000-4000-8000-{self.index:012d}"


def _calls() -> list[SeedCall]:
    calls = []
    for i in range(30):
        revision = "2019" if i % 6 == 0 else "2026-05"
        kind = i % 5
        decision = ["covered", "conditional", "not-covered", "conditional", "indeterminate"][kind]
        not_met: list[str] = []
        docs: list[str] = []
        if decision == "not-covered":
            not_met = ["I.A.4"] if revision == "2019" else ["I.A.1.d"]
        if decision == "conditional":
            docs = ["II.A.1"] if revision == "2019" else (["I.A.1.b", "I.D.3"] if kind == 1 else ["I.A.1.b"])
        calls.append(SeedCall(
            index=i, hours_ago=0.5 + i * 1.5, hook="order-select" if i % 3 == 0 else "order-sign",
            client=CLIENT_B if i % 4 == 0 else CLIENT_A, duration_ms=10.0 + 3 * i, revision=revision,
            decision=decision, not_met=not_met, needs_documentation=docs,
            technical_problem="Condition: timed out after 3.0 s" if decision == "indeterminate" else None,
            fhir_server=FHIR_B if i % 2 else FHIR_A, patient=SEARCH_PATIENT if i in (7, 8) else f"pat-{i}"))
    return calls


SEED_CALLS = _calls()
# (hours ago, client, status, reason, route): hook-call refusals, and one admin sign-in refusal the console leaves out
SEED_REFUSALS = [(1.0, None, 401, "jwt-refused", "/cds-services/<service_id>"),
                 (5.0, None, 401, "jwt-refused", "/cds-services/<service_id>"),
                 (9.0, CLIENT_B, 403, "forbidden", "/cds-services/<service_id>"),
                 (2.0, None, 401, "jwt-refused", "/admin/login")]
PATIENT_DECLINED = {"reason": {"system": "http://example.org/override", "code": "declined",
                               "display": "Patient declined"}, "userComment": "free text never shown"}
DISAGREE = {"reason": {"system": "http://example.org/override", "code": "disagree", "display": "Clinician disagrees"}}
# (call index or None for a card never issued, outcome, override reason)
SEED_FEEDBACK = [(5, "accepted", None), (10, "accepted", None), (20, "accepted", None),
                 (2, "overridden", PATIENT_DECLINED), (17, "overridden", PATIENT_DECLINED),
                 (22, "overridden", DISAGREE), (None, "accepted", None)]


def criteria_of(call: SeedCall) -> list[dict[str, object]]:
    """A per-criterion table as the service stores it with a coverage assertion."""
    rows: list[dict[str, object]] = [
        {"id": "I", "result": "met", "reason": "ordered by a physician", "evidence": []},
        {"id": "I.B", "result": "not-applicable", "reason": "an initial block, not RF", "evidence": []}]
    for cid in call.not_met:
        rows.append({"id": cid, "result": "not-met", "reason": "4 levels ordered; at most 2 are covered",
                     "evidence": [f"ServiceRequest/{call.order_id}, 2026-11-20, CPT 64493"]})
    for cid in call.needs_documentation:
        rows.append({"id": cid, "result": "needs-documentation",
                     "reason": "no pain duration recorded: record the onset on the Condition", "evidence": []})
    return rows


def _connect(database: DatabaseUrl):  # type: ignore[no-untyped-def]
    """A DB-API connection in autocommit mode and a function giving a table's columns."""
    if database.kind == "postgresql":
        import psycopg

        connection = psycopg.connect(database.location, autocommit=True)

        def columns(table: str) -> set[str]:
            rows = connection.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                                      " AND table_schema = current_schema()", (table,)).fetchall()
            return {r[0] for r in rows}

        return connection, "%s", columns
    connection = sqlite3.connect(database.sqlite_path, isolation_level=None)
    return connection, "?", lambda table: {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def _database(database: Path | DatabaseUrl) -> DatabaseUrl:
    return DatabaseUrl("sqlite", str(database)) if isinstance(database, Path) else database


def stores_issued_cards(database: Path | DatabaseUrl) -> bool:
    connection, _, columns = _connect(_database(database))
    try:
        return bool(columns("issued_card"))
    finally:
        connection.close()


def seed(database: Path | DatabaseUrl) -> None:
    url = _database(database)
    Store(url)  # the service's schema (and migrations, where they exist)
    now = time.time()
    connection, mark, columns = _connect(url)

    def run(statement: str, params: tuple = ()):  # type: ignore[no-untyped-def, type-arg]
        return connection.execute(statement.replace("?", mark), params)

    try:
        has_cards = bool(columns("issued_card"))
        has_orders = bool(columns("audit_order"))
        feedback_columns = columns("feedback")
        for call in SEED_CALLS:
            at = now - call.hours_ago * 3600
            decisions = [{"procedure": f"Lumbar facet block L4-L5 ({call.order_id})", "orders": [call.order_id],
                          "revision": call.revision, "decision": call.decision, "notMet": call.not_met,
                          "needsDocumentation": call.needs_documentation}]
            detail = {"fhirServer": call.fhir_server, "prefetchedKeys": ["patient"], "fetchedKeys": ["conditions"],
                      "cachedKeys": [], "skippedResources": [], "droppedResources": [], "outOfScopeOrders": []}
            audit_id = run(
                "INSERT INTO audit(at, hook, hook_instance, service_id, client, patient_hash, status, duration_ms,"
                " decisions, technical_problem, detail, request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (at, call.hook, call.hook_instance, f"facet-{call.hook}", call.client,
                 patient_hash(HASH_KEY.encode(), call.patient), 200, call.duration_ms, json.dumps(decisions),
                 call.technical_problem, json.dumps(detail), f"req-{call.index}")).fetchone()[0]
            if call.hook == "order-sign":
                run("INSERT INTO assertion(assertion_id, at, audit_id, hook_instance, patient_hash, order_ids,"
                    " decision, revision, criteria) VALUES (?,?,?,?,?,?,?,?,?)",
                    (call.assertion_id, at, audit_id, call.hook_instance, None, json.dumps([call.order_id]),
                     call.decision, call.revision, json.dumps(criteria_of(call))))
            if has_cards:
                run("INSERT INTO issued_card(card_uuid, audit_id, at, service_id, client) VALUES (?,?,?,?,?)",
                    (call.card_uuid, audit_id, at, f"facet-{call.hook}", call.client))
            if has_orders:
                run("INSERT INTO audit_order(order_id, audit_id) VALUES (?,?)", (call.order_id, audit_id))
        for hours_ago, client, status, reason, route in SEED_REFUSALS:
            run("INSERT INTO refusal(at, request_id, method, route, service_id, client, status, reason)"
                " VALUES (?,?,?,?,?,?,?,?)", (now - hours_ago * 3600, None, "POST", route, None, client, status, reason))
        for n, (index, outcome, reason) in enumerate(SEED_FEEDBACK):
            call = SEED_CALLS[index] if index is not None else None
            values = {"at": now - 600 - n, "service_id": "facet-order-sign", "client": call.client if call else CLIENT_A,
                      "card": call.card_uuid if call else "card-never-issued", "outcome": outcome,
                      "outcome_timestamp": f"2026-12-01T10:00:0{n}Z",
                      "override_reason": json.dumps(reason) if reason else None}
            if "client_key" in feedback_columns:
                values["client_key"] = values["client"] or ""
            if "card_issued" in feedback_columns:
                values["card_issued"] = int(call is not None)
            run(f"INSERT INTO feedback({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})",
                tuple(values.values()))
    finally:
        connection.close()
