"""Draining on SIGTERM: keep answering for CDS_DRAIN_SECONDS with /readyz at 503, then stop.

Why: a load balancer (a Kubernetes Service) only stops routing to an instance once its readiness probe
fails. Stopping at once on SIGTERM drops the calls that still arrive in that window; draining first
lets the balancer see "not ready" and move traffic while in-flight and late calls are still answered.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("cds_service.lifecycle")
DRAIN_ENV = "CDS_DRAIN_SECONDS"
MAX_DRAIN_S = 300.0


class DrainState:
    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def active(self) -> bool:
        return self._event.is_set()

    def begin(self) -> None:
        self._event.set()


DRAIN = DrainState()  # per process: each gunicorn worker drains on its own SIGTERM


def drain_seconds(env: Mapping[str, str] = os.environ) -> float:
    """CDS_DRAIN_SECONDS: 0 (stop at once, the default) up to 300; anything else refuses to start."""
    raw = env.get(DRAIN_ENV, "").strip() or "0"
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{DRAIN_ENV} must be a number of seconds, not {raw!r}") from None
    if not 0 <= seconds <= MAX_DRAIN_S:
        raise ValueError(f"{DRAIN_ENV} must be between 0 and {MAX_DRAIN_S:g}, not {raw}")
    return seconds


def drain_on_sigterm(seconds: float, stop: Callable[[], None]) -> None:
    """From now on SIGTERM starts draining and calls `stop` after `seconds` (main thread only)."""

    def on_sigterm(signum: int, frame: Any) -> None:
        if DRAIN.active:
            return  # a second SIGTERM changes nothing; SIGKILL is the way to hurry
        DRAIN.begin()
        log.warning("SIGTERM: draining for %g s (/readyz answers 503), then stopping", seconds)
        timer = threading.Timer(seconds, stop)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, on_sigterm)
