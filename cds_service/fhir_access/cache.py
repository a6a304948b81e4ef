"""A small per-process cache of fetched FHIR data, so order-sign can reuse what order-select fetched.

Contract §4: keyed by iss + fhirServer + patient + a hash of the FHIR access token (data fetched with one
token is never served to a call made with another, or with none), short TTL. `gather_record` decides what goes in
(never QuestionnaireResponses: those are always read fresh); this module only stores and expires.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


def token_fingerprint(access_token: str | None) -> str | None:
    """A digest of the FHIR access token for the cache key: the key is kept in memory, never the token."""
    if access_token is None:
        return None
    return hashlib.sha256(access_token.encode("utf-8", "surrogatepass")).hexdigest()


class RecordCache:
    """Thread-safe LRU with a time-to-live per entry.

    :param ttl_s: seconds an entry stays fresh after it was put.
    :param max_entries: the least recently used entry goes when one more is put.
    :param clock: seconds from any fixed point (tests pass a fake).
    """

    def __init__(
        self, ttl_s: float = 120.0, max_entries: int = 256, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_s <= 0 or max_entries <= 0:
            raise ValueError("RecordCache needs ttl_s > 0 and max_entries > 0")
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        """The fresh value stored under `key`, else None (an expired entry is removed)."""
        with self._lock:
            stored = self._entries.get(key)
            if stored is None:
                return None
            expires_at, value = stored
            if self._clock() >= expires_at:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store `value` under `key`, fresh for `ttl_s` from now."""
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
