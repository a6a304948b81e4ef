"""Replay stores: a (iss, jti) is accepted once until it expires, across threads and (SQLite) processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from cds_service.security import InMemoryReplayStore, ReplayStore, SqliteReplayStore
from tests.support.races import race_on_one_jti


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


StoreFactory = Callable[[FakeClock], ReplayStore]


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    if request.param == "memory":
        return lambda clock: InMemoryReplayStore(clock=clock)
    return lambda clock: SqliteReplayStore(tmp_path / "replay.db", clock=clock)


def test_second_use_is_a_replay(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(clock)
    assert store.remember("iss", "jti-1", clock.now + 300) is True
    assert store.remember("iss", "jti-1", clock.now + 300) is False
    assert store.remember("iss", "jti-1", clock.now + 9999) is False  # a later expiry changes nothing


def test_jti_is_scoped_by_issuer(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(clock)
    assert store.remember("https://a.example", "same", clock.now + 300)
    assert store.remember("https://b.example", "same", clock.now + 300)


def test_expired_entry_may_be_used_again(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(clock)
    assert store.remember("iss", "jti", clock.now + 300)
    clock.now += 299
    assert not store.remember("iss", "jti", clock.now + 300)
    clock.now += 1  # expires_at reached: the token it protected can no longer be accepted anyway
    assert store.remember("iss", "jti", clock.now + 300)
    assert not store.remember("iss", "jti", clock.now + 300)


def test_concurrent_threads_accept_a_jti_once(make_store: StoreFactory) -> None:
    clock = FakeClock()
    store = make_store(clock)
    assert sorted(race_on_one_jti(store, clock.now + 300)) == [False] * 15 + [True]


def test_in_memory_store_sweeps_expired_entries() -> None:
    clock = FakeClock()
    store = InMemoryReplayStore(clock=clock, sweep_at=10)
    for index in range(9):
        store.remember("iss", f"old-{index}", clock.now + 1)
    clock.now += 2
    store.remember("iss", "new", clock.now + 300)  # the 10th entry triggers the sweep
    assert len(store) == 1


# --- SQLite specifics --------------------------------------------------------------------------------------


def test_sqlite_schema_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    SqliteReplayStore(path)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in connection.execute("PRAGMA table_info(jwt_replay)")]
        assert columns == ["iss", "jti", "expires_at"]
        primary_key = [row[1] for row in connection.execute("PRAGMA table_info(jwt_replay)") if row[5]]
        assert primary_key == ["iss", "jti"]
    finally:
        connection.close()


def test_sqlite_stores_on_the_same_file_share_what_they_saw(tmp_path: Path) -> None:
    clock = FakeClock()
    first = SqliteReplayStore(tmp_path / "replay.db", clock=clock)
    second = SqliteReplayStore(tmp_path / "replay.db", clock=clock)  # as another worker would
    assert first.remember("iss", "jti", clock.now + 300)
    assert not second.remember("iss", "jti", clock.now + 300)


def test_sqlite_purges_expired_rows_opportunistically(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteReplayStore(tmp_path / "replay.db", clock=clock, purge_interval_s=60)
    for index in range(5):
        store.remember("iss", f"old-{index}", clock.now + 10)
    assert store.count() == 5
    clock.now += 30  # expired, but the last purge was under a minute ago
    store.remember("iss", "middle", clock.now + 300)
    assert store.count() == 6
    clock.now += 31
    store.remember("iss", "new", clock.now + 300)
    assert store.count() == 2


def test_sqlite_refuses_an_in_memory_database() -> None:
    with pytest.raises(ValueError, match="file path"):
        SqliteReplayStore(":memory:")


def _remember_in_another_process(path: str, jti: str) -> bool:
    return SqliteReplayStore(path).remember("iss", jti, 4_000_000_000.0)


def test_sqlite_processes_racing_on_a_jti_accept_it_once(tmp_path: Path) -> None:
    path = str(tmp_path / "replay.db")
    SqliteReplayStore(path)
    context = multiprocessing.get_context("spawn")  # like separate gunicorn workers: nothing shared in memory
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        results = list(pool.map(_remember_in_another_process, [path] * 12, ["raced"] * 12))
        assert sorted(results) == [False] * 11 + [True]
        assert all(pool.map(_remember_in_another_process, [path] * 4, [f"own-{i}" for i in range(4)]))
