"""How much FHIR data one hook call may fetch, and how long it may wait for it.

`FetchLimits.from_env(os.environ)` reads the `CDS_*` variables of contract §2; the values guard the
service against a slow, hostile or simply huge EHR FHIR server.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

# environment variable -> FetchLimits field
ENV_VARIABLES = {
    "CDS_FHIR_TIMEOUT_S": "timeout_s",
    "CDS_MAX_FHIR_PAGES": "max_pages",
    "CDS_MAX_FHIR_RESPONSE_BYTES": "max_response_bytes",
    "CDS_MAX_PREFETCH_RESOURCES": "max_resources",
}


@dataclass(frozen=True)
class FetchLimits:
    """Limits for the FHIR fetches of one hook call.

    :param timeout_s: the whole budget for every FHIR request of one hook call (one shared deadline).
    :param max_pages: pages followed per search; a server that keeps sending `next` links fails.
    :param max_response_bytes: size of one response body (after decompression); bigger fails.
    :param max_resources: resources per hook call, prefetched and fetched together.
    """

    timeout_s: float = 3.0
    max_pages: int = 20
    max_response_bytes: int = 10 * 1024 * 1024
    max_resources: int = 5000

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
