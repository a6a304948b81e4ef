"""How much FHIR data one hook call may fetch, and how long it may wait for it.

`FetchLimits.from_env(os.environ)` reads the `CDS_*` variables of contract §2; the values guard the
service against a slow, hostile or simply huge EHR FHIR server.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

# environment variable -> FetchLimits field
ENV_VARIABLES = {
    "CDS_FHIR_TIMEOUT_S": "timeout_s",
    "CDS_MAX_FHIR_PAGES": "max_pages",
    "CDS_MAX_FHIR_RESPONSE_BYTES": "max_response_bytes",
    "CDS_MAX_PREFETCH_RESOURCES": "max_resources",
    "CDS_FHIR_MAX_FETCHES_PER_SERVER": "max_fetches_per_server",
}


@dataclass(frozen=True)
class FetchLimits:
    """Limits for the FHIR fetches of one hook call.

    :param timeout_s: the whole budget for every FHIR request of one hook call (one shared deadline).
    :param max_pages: pages followed per search; a server that keeps sending `next` links fails.
    :param max_response_bytes: size of one response body (after decompression); bigger fails.
    :param max_resources: resources per hook call, prefetched and fetched together.
    :param max_fetches_per_server: fetches in flight (queued or running) to one FHIR server, all calls of
        the process together: the bulkhead that keeps one slow server from taking every fetch thread.
    """

    timeout_s: float = 3.0
    max_pages: int = 20
    max_response_bytes: int = 10 * 1024 * 1024
    max_resources: int = 5000
    max_fetches_per_server: int = 16

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"FetchLimits.{field.name} must be a positive number, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FetchLimits:
        """Limits from `CDS_FHIR_TIMEOUT_S`, `CDS_MAX_FHIR_PAGES`, `CDS_MAX_FHIR_RESPONSE_BYTES` and
        `CDS_MAX_PREFETCH_RESOURCES`; unset or blank variables keep the defaults.

        :raise ValueError: a variable is not a positive number (the message names it).
        """
        parsers: dict[str, Callable[[str], float | int]] = {
            "timeout_s": float,
            "max_pages": int,
            "max_response_bytes": int,
            "max_resources": int,
            "max_fetches_per_server": int,
        }
        overrides: dict[str, float | int] = {}
        for variable, field_name in ENV_VARIABLES.items():
            raw = environ.get(variable, "").strip()
            if raw:
                overrides[field_name] = _parse_positive(variable, raw, parsers[field_name])
        return cls(**overrides)  # type: ignore[arg-type]  # each value was parsed for its field


def _parse_positive(variable: str, raw: str, parse: Callable[[str], float | int]) -> float | int:
    kind = "a whole number" if parse is int else "a number of seconds"
    try:
        value = parse(raw)
    except ValueError:
        raise ValueError(f"{variable} must be {kind} greater than 0, got {raw!r}") from None
    # float("nan") and float("inf") parse, but are no usable budget
    if not 0 < value < float("inf"):
        raise ValueError(f"{variable} must be {kind} greater than 0, got {raw!r}")
    return value


class Bulkheads:
    """One bounded semaphore per FHIR server (scheme, host, port): a slow server can hold at most `limit`
    fetch threads, so calls to every other server still find threads free.

    Permits are taken by the calling (request) thread before a fetch is queued, and given back when the
    fetch ends or is cancelled; a call that cannot get one before its deadline fails that fetch.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._semaphores: dict[tuple[object, int], threading.BoundedSemaphore] = {}

    def for_server(self, server: object, limit: int) -> threading.BoundedSemaphore:
        with self._lock:
            key = (server, limit)
            semaphore = self._semaphores.get(key)
            if semaphore is None:
                semaphore = self._semaphores[key] = threading.BoundedSemaphore(limit)
            return semaphore


shared_bulkheads = Bulkheads()  # process-wide, like the fetch pool it protects
