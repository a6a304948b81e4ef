"""Many threads at once on one replay store: what exactly-once means under contention."""
from __future__ import annotations

import threading

from cds_service.security.replay import ReplayStore


def race_on_one_jti(store: ReplayStore, expires_at: float, threads: int = 16) -> list[bool]:
    """Every thread tries to remember the same jti at the same moment; returns what each was told."""
    start = threading.Barrier(threads)
    results: list[bool] = []

    def attempt() -> None:
        start.wait()
        results.append(store.remember("iss", "raced", expires_at))

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results
