"""The admin console's queries give the same answers on PostgreSQL as on SQLite, from the same seeded rows
(the browser test checks the SQLite numbers against the seed itself)."""
from __future__ import annotations

from cds_service.settings import DatabaseUrl
from cds_service.storage.console_queries import CallFilter, ConsoleQueries
from tests.support import admin_seed
from tests.support.admin_seed import CLIENT_B, SEARCH_ORDER, SEED_CALLS

TIMELESS = ("calls", "refused", "fhirFailures", "p50", "p95", "byRevision", "byCriterion", "clients", "fhirServers",
            "refusedByReason")


def _answers(queries: ConsoleQueries) -> dict:
    everything = CallFilter()
    overview = queries.overview(everything, bucket_s=86400)
    pages = {}
    for name, f in {"all": everything, "not-covered": CallFilter(decision="not-covered"),
                    "client-b": CallFilter(client=CLIENT_B), "refused": CallFilter(status="refused"),
                    "fhir-failure": CallFilter(status="fhir-failure"), "order": CallFilter(order_id=SEARCH_ORDER),
                    "hook": CallFilter(hook="order-select", status="200")}.items():
        rows, total = queries.calls_page(f, page=2 if name == "all" else 1, per_page=10)
        pages[name] = (total, [(r["kind"], r["status"], r["client"], r["decisions"]) for r in rows])
    call = queries.call(queries.audit_id_of_assertion(SEED_CALLS[2].assertion_id) or -1)
    assert call is not None
    return {"overview": {k: overview[k] for k in TIMELESS}, "feedback": queries.feedback(everything),
            "pages": pages, "call": (call["decisions"], [a["criteria"] for a in call["assertions"]],
                                     [(f["outcome"], f["reason"]) for f in call["feedback"]]),
            "choices": queries.choices()}


def test_console_queries_agree_on_postgresql_and_sqlite(postgres_url, tmp_path):
    sqlite_path = tmp_path / "cds.sqlite3"
    admin_seed.seed(sqlite_path)
    postgres = DatabaseUrl.parse(postgres_url)
    admin_seed.seed(postgres)
    on_sqlite = _answers(ConsoleQueries(DatabaseUrl("sqlite", str(sqlite_path))))
    on_postgres = _answers(ConsoleQueries(postgres))
    assert on_postgres == on_sqlite
    assert on_postgres["overview"]["calls"] == len(SEED_CALLS)
    assert on_postgres["pages"]["order"][0] == 1
    assert on_postgres["pages"]["not-covered"][0] == sum(c.decision == "not-covered" for c in SEED_CALLS)
    assert on_postgres["pages"]["refused"][0] == 3  # the admin sign-in refusal is not a hook call
