"""The JWT replay store in a real PostgreSQL: a (iss, jti) is accepted once, across threads and processes."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from cds_service.security.replay import PostgresReplayStore
from tests.support.races import race_on_one_jti

NOW = 1_763_600_000.0  # a real epoch time: at this size a 4-byte float would round expiries to minutes


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_first_use_is_accepted_and_a_replay_refused(postgres_url: str) -> None:
    clock = FakeClock()
    store = PostgresReplayStore(postgres_url, clock=clock)
    assert store.remember("iss", "jti-1", NOW + 300) is True
    assert store.remember("iss", "jti-1", NOW + 300) is False
    assert store.remember("iss", "jti-1", NOW + 9999) is False  # a later expiry changes nothing
    assert store.remember("https://other.example", "jti-1", NOW + 300) is True  # jti is scoped by issuer


def test_a_jti_is_reusable_once_expired_to_the_second(postgres_url: str) -> None:
    clock = FakeClock()
    store = PostgresReplayStore(postgres_url, clock=clock)
    assert store.remember("iss", "jti", NOW + 300)
    clock.now = NOW + 299.5
    assert not store.remember("iss", "jti", clock.now + 300)
    clock.now = NOW + 300  # expires_at reached: the token it protected can no longer be accepted anyway
    assert store.remember("iss", "jti", clock.now + 300)
    assert not store.remember("iss", "jti", clock.now + 300)


def test_workers_on_one_database_share_what_they_saw(postgres_url: str) -> None:
    clock = FakeClock()
    first = PostgresReplayStore(postgres_url, clock=clock)
    second = PostgresReplayStore(postgres_url, clock=clock)  # as another worker, or host, would
    assert first.remember("iss", "jti", NOW + 300)
    assert not second.remember("iss", "jti", NOW + 300)


def test_expired_rows_are_purged_at_most_once_a_minute(postgres_url: str) -> None:
    clock = FakeClock()
    store = PostgresReplayStore(postgres_url, clock=clock, purge_interval_s=60)
    for index in range(5):
        store.remember("iss", f"old-{index}", NOW + 10)
    assert store.count() == 5
    clock.now = NOW + 30  # expired, but the last purge was under a minute ago
    store.remember("iss", "middle", clock.now + 300)
    assert store.count() == 6
    clock.now = NOW + 61
    store.remember("iss", "new", clock.now + 300)
    assert store.count() == 2


def test_threads_racing_on_a_jti_accept_it_once(postgres_url: str) -> None:
    store = PostgresReplayStore(postgres_url, clock=FakeClock())
    assert sorted(race_on_one_jti(store, NOW + 300)) == [False] * 15 + [True]


def _remember_in_another_process(url: str, jti: str) -> bool:
    return PostgresReplayStore(url).remember("iss", jti, 4_000_000_000.0)


def test_processes_racing_on_a_jti_accept_it_once(postgres_url: str) -> None:
    PostgresReplayStore(postgres_url)
    context = multiprocessing.get_context("spawn")  # like separate gunicorn workers: nothing shared in memory
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        results = list(pool.map(_remember_in_another_process, [postgres_url] * 12, ["raced"] * 12))
        assert sorted(results) == [False] * 11 + [True]
        assert all(pool.map(_remember_in_another_process, [postgres_url] * 4, [f"own-{i}" for i in range(4)]))
