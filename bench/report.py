"""The bench's tables (stdout) and bench/out/latest.json."""
from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .engine_bench import EngineRow
from .service_bench import MAX_FLOOR_RATIO, ServiceRow

OUT = Path(__file__).resolve().parent / "out" / "latest.json"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def engine_table(rows: list[EngineRow]) -> str:
    width = max(len(r.what) for r in rows)
    lines = ["(a) engine, in-process, one order (64635 + 64636, L4-L5 + L5-S1)",
             f"{'what':<{width}}  {'n':>5}  {'median ms':>9}  {'p99 ms':>8}  target"]
    for row in rows:
        target = (
            "" if row.target_ms is None else f"p99 <= {row.target_ms:g} ms: {_verdict(row.timing.p99 <= row.target_ms)}"
        )
        note = f"  ({row.note})" if row.note else ""
        lines.append(f"{row.what:<{width}}  {row.timing.count:>5}  {row.timing.median:>9.2f}  {row.timing.p99:>8.2f}  "
                     f"{target}{note}")
    return "\n".join(lines)


def service_table(rows: list[ServiceRow], setup: dict[str, Any]) -> str:
    width = max(len(r.case.label) for r in rows)
    title = (f"(b) order-sign over HTTP: {setup['server']}, {setup['auth']}, fresh jti per call; "
             f"record cache {setup['record_cache']}")
    header = (f"{'case':<{width}}  {'n':>4}  {'median':>7}  {'p99':>7}  {'floor med':>9}  {'floor p99':>9}  "
              f"{'p99/floor':>9}  targets")
    lines = [title, header]
    for row in rows:
        t, f = row.timing, row.floor
        targets = (f"p99 <= {row.target_ms:g} ms: {_verdict(t.p99 <= row.target_ms)}; "
                   f"<= {MAX_FLOOR_RATIO:g}x floor: {_verdict(row.floor_ratio <= MAX_FLOOR_RATIO)}")
        errors = f"; {row.errors} errors" if row.errors else ""
        if row.fhir_alone:
            errors += (f"; SEKMET alone (same searches, parallel): median {row.fhir_alone.median:.1f}, "
                       f"p99 {row.fhir_alone.p99:.1f}")
        lines.append(f"{row.case.label:<{width}}  {t.count:>4}  {t.median:>7.1f}  {t.p99:>7.1f}  {f.median:>9.1f}  "
                     f"{f.p99:>9.1f}  {row.floor_ratio:>8.1f}x  {targets}{errors}")
    lines.append("times in ms, measured by the client (request sent to response read); "
                 "floor = same JWT check and body parsing, empty cards")
    before, after = setup["load_average_1min"]
    lines.append(f"machine: {setup['cpus']} CPUs, load average {before:g} before / {after:g} after "
                 "(client, service and SEKMET share them; other load inflates p99)")
    decisions = sorted({row.decisions for row in rows})
    lines.append("answers: " + " | ".join(decisions))
    return "\n".join(lines)


def write_json(sections: dict[str, Any], seconds: float) -> Path:
    """bench/out/latest.json: every section this run measured (engine, service, cold, slow_clients, drills),
    as the tables printed them; a partial run (`--cold-only`, ...) writes only its own."""
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "duration_s": round(seconds, 1),
        **sections,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return OUT
