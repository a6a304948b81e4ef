"""Writing one call's audit: the call row, its coverage assertions, the card uuids it issued and its order ids.

All or nothing, in two forms with the same effect. SQLite runs them as statements in one transaction (it is
in process: a statement costs no round trip). PostgreSQL runs them as one statement, whose data-modifying
`WITH` parts share the call's new id and commit together: one round trip instead of six (BEGIN, four
inserts, COMMIT), which was a third of a worker's CPU in the load run, spent in the driver.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Executes(Protocol):
    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any: ...
    def execute_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None: ...


@dataclass(frozen=True)
class AuditRows:
    """One call's rows, as stored (JSON columns already serialised)."""

    at: float
    call: tuple[Any, ...]  # the audit row's values, in CALL_COLUMNS order (without id)
    assertions: list[tuple[str, str, str, str | None, str]]  # assertion_id, order_ids, decision, revision, criteria
    hook_instance: str
    patient_hash: str | None
    service_id: str
    client: str | None
    card_uuids: list[str]
    order_ids: list[str]


CALL_COLUMNS = ("at", "hook", "hook_instance", "service_id", "client", "patient_hash", "status", "duration_ms",
                "decisions", "technical_problem", "detail", "request_id")
_ASSERTION_COLUMNS = ("assertion_id", "at", "audit_id", "hook_instance", "patient_hash", "order_ids", "decision",
                      "revision", "criteria")
# A re-recorded assertion id replaces the earlier row (the behaviour of SQLite's former INSERT OR REPLACE).
_ASSERTION_CONFLICT = (" ON CONFLICT (assertion_id) DO UPDATE SET "
                       + ", ".join(f"{column} = excluded.{column}" for column in _ASSERTION_COLUMNS[1:]))
_INSERT_CALL = f"INSERT INTO audit({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' for _ in CALL_COLUMNS)})"


def write_statements(db: Executes, rows: AuditRows) -> int:
    """The portable form: run inside one transaction. Placeholders are `?` (the session translates them)."""
    audit_id = int(db.execute(f"{_INSERT_CALL} RETURNING id", rows.call).fetchone()[0])
    db.execute_many(
        f"INSERT INTO assertion({', '.join(_ASSERTION_COLUMNS)}) VALUES ({', '.join('?' for _ in _ASSERTION_COLUMNS)})"
        + _ASSERTION_CONFLICT,
        [(aid, rows.at, audit_id, rows.hook_instance, rows.patient_hash, order_ids, decision, revision, criteria)
         for aid, order_ids, decision, revision, criteria in rows.assertions])
    db.execute_many("INSERT INTO issued_card(card_uuid, audit_id, at, service_id, client) VALUES (?,?,?,?,?)"
                    " ON CONFLICT (card_uuid) DO NOTHING",
                    [(card, audit_id, rows.at, rows.service_id, rows.client) for card in rows.card_uuids])
    db.execute_many("INSERT INTO audit_order(order_id, audit_id) VALUES (?,?) ON CONFLICT DO NOTHING",
                    [(order_id, audit_id) for order_id in rows.order_ids])
    return audit_id


# PostgreSQL: one statement. The assertions arrive as one JSON array (as text arrays, their JSON columns would
# be escaped character by character by the driver); a `json` value keeps its text as given, so `::text` stores
# each JSON column exactly as the portable form does.
ONE_STATEMENT = f"""
WITH call AS (
    {_INSERT_CALL} RETURNING id
), assertions AS (
    INSERT INTO assertion({', '.join(_ASSERTION_COLUMNS)})
    SELECT a.assertion_id, ?, call.id, ?, ?, a.order_ids::text, a.decision, a.revision, a.criteria::text
    FROM call, json_to_recordset(?::json)
        AS a(assertion_id text, order_ids json, decision text, revision text, criteria json)
    {_ASSERTION_CONFLICT}
), cards AS (
    INSERT INTO issued_card(card_uuid, audit_id, at, service_id, client)
    SELECT card, call.id, ?, ?, ? FROM call, unnest(?::text[]) AS card
    ON CONFLICT (card_uuid) DO NOTHING
), orders AS (
    INSERT INTO audit_order(order_id, audit_id)
    SELECT order_id, call.id FROM call, unnest(?::text[]) AS order_id
    ON CONFLICT DO NOTHING
)
SELECT id FROM call
"""


def write_one_statement(db: Executes, rows: AuditRows) -> int:
    # order_ids and criteria are JSON text already: spliced in, not parsed and written again.
    assertions = "[" + ",".join(
        f'{{"assertion_id":{json.dumps(aid)},"order_ids":{order_ids},"decision":{json.dumps(decision)},'
        f'"revision":{json.dumps(revision)},"criteria":{criteria}}}'
        for aid, order_ids, decision, revision, criteria in rows.assertions) + "]"
    params = (*rows.call, rows.at, rows.hook_instance, rows.patient_hash, assertions,
              rows.at, rows.service_id, rows.client, rows.card_uuids, rows.order_ids)
    return int(db.execute(ONE_STATEMENT, params).fetchone()[0])
