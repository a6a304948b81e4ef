"""Polling for a condition instead of sleeping a fixed time."""
from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], seconds: float) -> bool:
    """True as soon as `condition()` is truthy; after `seconds`, whatever it says then."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())
