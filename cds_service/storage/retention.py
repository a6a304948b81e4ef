"""Audit retention: rows older than CDS_AUDIT_RETENTION_DAYS are deleted, by a purge that runs by itself.

Every worker process starts one daemon thread (`start_purger`). It tries at start-up and then every
PURGE_EVERY_S; a row in `settings` (claim_periodic_job) lets one worker of the whole deployment win each
period, so N workers on M replicas purge once, not N×M times. Should two ever purge at once, they only
share the work: the deletes are idempotent. `python -m cds_service purge-audit` purges now, unclaimed.

Retention 0 keeps everything forever (no thread is started).
"""
from __future__ import annotations

import logging
import threading
import time

from cds_service.storage.store import Store

log = logging.getLogger("cds_service.storage.retention")

PURGE_EVERY_S = 3600.0
JOB = "audit_purge_last_run"  # settings.name of the last run's time (epoch seconds)
DAY_S = 86400.0


def cutoff(retention_days: int, now: float | None = None) -> float:
    return (time.time() if now is None else now) - retention_days * DAY_S


def purge(store: Store, retention_days: int, now: float | None = None) -> dict[str, int]:
    """Deletes what is older than the retention; {} when retention is 0 (keep forever)."""
    if retention_days <= 0:
        return {}
    deleted = store.purge_before(cutoff(retention_days, now))
    if any(deleted.values()):
        log.info("audit retention %d days: purged %s", retention_days,
                 ", ".join(f"{n} {table}" for table, n in deleted.items() if n))
    return deleted


def purge_if_due(store: Store, retention_days: int, now: float | None = None) -> dict[str, int] | None:
    """Purges when this worker won this period's claim; None when another worker has it."""
    moment = time.time() if now is None else now
    if retention_days <= 0 or not store.claim_periodic_job(JOB, moment, PURGE_EVERY_S):
        return None
    return purge(store, retention_days, moment)


START_DELAY_S = 5.0  # after the worker's own start-up writes (schema, hash key, replay table): never contend


def start_purger(store: Store, retention_days: int, *, every_s: float = PURGE_EVERY_S,
                 first_after_s: float = START_DELAY_S) -> threading.Thread | None:
    """The background purge of this process, first shortly after start-up; None when retention is 0."""
    if retention_days <= 0:
        return None
    stop = threading.Event()  # never set: the daemon thread ends with its process

    def run() -> None:
        if stop.wait(first_after_s):
            return
        while True:
            try:
                purge_if_due(store, retention_days)
            except Exception as exc:  # noqa: BLE001 - a database outage: try again next period, one line
                log.warning("audit purge failed, retried in %.0f s: %s", every_s, type(exc).__name__)
            if stop.wait(every_s):
                return

    thread = threading.Thread(target=run, name="facet-cds-audit-purge", daemon=True)
    thread.start()
    return thread
