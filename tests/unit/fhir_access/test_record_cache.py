"""RecordCache: TTL and LRU."""
import threading

from cds_service.fhir_access.cache import RecordCache


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_entries_expire_after_the_ttl():
    clock = FakeClock()
    cache = RecordCache(ttl_s=120, clock=clock)
    cache.put("k", {"a": 1})

    clock.now += 119.9
    fresh = cache.get("k")
    clock.now += 0.1
    expired = cache.get("k")

    assert fresh == {"a": 1}
    assert expired is None
    assert len(cache) == 0


def test_the_least_recently_used_entry_goes_first():
    cache = RecordCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")  # "b" is now the least recently used

    cache.put("c", 3)

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_concurrent_use_keeps_the_size_bound():
    cache = RecordCache(max_entries=50)

    def hammer(offset):
        for i in range(500):
            cache.put((offset, i), i)
            cache.get((offset, i - 1))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(cache) == 50
