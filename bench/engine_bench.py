"""(a) The engine in-process: pure evaluation of one order, and the parsing (normalisation) before it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from cds_service.fhir_access.normalize import clear_cache, normalize_resources
from cds_service.usecases.engine import default_library, evaluate

from .records import DATE_OF_SERVICE, BenchRecord
from .stats import Timing, time_calls

EVALUATION_P99_TARGET_MS = 2.0


@dataclass(frozen=True)
class EngineRow:
    what: str
    timing: Timing
    target_ms: float | None = None  # p99 target, when there is one
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        verdict = None if self.target_ms is None else self.timing.p99 <= self.target_ms
        return {"what": self.what, **self.timing.summary(), "p99_target_ms": self.target_ms, "meets_target": verdict,
                "note": self.note}


def run(records: list[BenchRecord]) -> list[EngineRow]:
    library = default_library()
    rows: list[EngineRow] = []
    for record in records:
        resources = normalize_resources(record.resources).resources
        orders = normalize_resources(record.orders).resources
        evaluation = evaluate(library, resources, orders, today=DATE_OF_SERVICE)
        decisions = ", ".join(d.decision.value for d in evaluation.determinations)
        timing = time_calls(partial(evaluate, library, resources, orders, today=DATE_OF_SERVICE),
                            count=1000, warmup=20, max_seconds=15)
        rows.append(EngineRow(f"evaluate (pure), {record.label} ({len(resources)} res.)", timing,
                              EVALUATION_P99_TARGET_MS, note=f"decision: {decisions}"))
    rows += _parsing_rows(records[-1])
    return rows


def _parsing_rows(record: BenchRecord) -> list[EngineRow]:
    """normalize_resources cold (its cache emptied before each call) and warm, next to plain json.loads."""
    size = len(record.resources)
    text = json.dumps(record.as_bundle())
    cold = time_calls(lambda: normalize_resources(record.resources), count=40, warmup=2, max_seconds=20,
                      before_each=clear_cache)
    normalize_resources(record.resources)  # fill the cache
    warm = time_calls(lambda: normalize_resources(record.resources), count=300, warmup=5, max_seconds=10)
    baseline = time_calls(lambda: json.loads(text), count=300, warmup=5, max_seconds=10)
    return [
        EngineRow(f"normalize_resources, {size} res., cold cache", cold),
        EngineRow(f"normalize_resources, {size} res., warm cache", warm),
        EngineRow(f"baseline: json.loads of the same {size} res. ({len(text) // 1024} KiB)", baseline),
    ]
