"""What storage raises when the database cannot be used right now; the api layer answers it with a 503."""
from __future__ import annotations

from cds_service.errors import ServiceUnavailable


class DatabaseUnavailable(ServiceUnavailable):
    """The database is down, restarting or unreachable. `reason` is one line, free of connection secrets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def one_line(exc: BaseException) -> str:
    """The first line of a driver error (psycopg's run to several lines with hints), without a password."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"{type(exc).__name__}: {text[:200]}"
