"""Timing loops and their summary (median and p99 of the samples, in milliseconds)."""
from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    samples_ms: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.samples_ms)

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 99)

    def summary(self) -> dict[str, float | int]:
        return {"n": self.count, "median_ms": round(self.median, 3), "p99_ms": round(self.p99, 3)}


def percentile(samples: tuple[float, ...] | list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least q% of the samples at or below it."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def time_calls(call: Callable[[], object], *, count: int, warmup: int = 5, max_seconds: float = 20.0,
               before_each: Callable[[], object] | None = None) -> Timing:
    """Time `call` up to `count` times (fewer if `max_seconds` runs out); `before_each` is not timed."""
    for _ in range(warmup):
        if before_each:
            before_each()
        call()
    gc.collect()  # start each loop from the same heap state, so one loop's garbage is not billed to the next
    samples: list[float] = []
    deadline = time.monotonic() + max_seconds
    while len(samples) < count and time.monotonic() < deadline:
        if before_each:
            before_each()
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(tuple(samples))


@dataclass(frozen=True)
class Step:
    """One timed request of an interleaved loop: `prepare` (untimed) returns what `call` needs."""

    prepare: Callable[[], object]
    call: Callable[[object], object]


def time_interleaved(steps: dict[str, Step], *, count: int, warmup: int = 5,
                     max_seconds: float = 30.0) -> dict[str, Timing]:
    """Time several requests in turn (A, B, A, B, ...), so that noise on a shared machine hits them alike."""
    for _ in range(warmup):
        for step in steps.values():
            step.call(step.prepare())
    gc.collect()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    deadline = time.monotonic() + max_seconds
    for _ in range(count):
        if time.monotonic() >= deadline:
            break
        for name, step in steps.items():
            prepared = step.prepare()
            started = time.perf_counter()
            step.call(prepared)
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: Timing(tuple(values)) for name, values in samples.items()}
