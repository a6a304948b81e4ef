"""`python -m bench` (`make bench`): engine and service benchmarks; prints tables, writes bench/out/latest.json.

    python -m bench [--calls N] [--engine-only] [--slow-only [--drippers N]]
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from . import cold, drills, engine_bench, report, service_bench, slow_clients
from .records import demo_record, synthetic_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="timed order-sign calls per case (default 200)")
    parser.add_argument("--engine-only", action="store_true", help="skip the HTTP benchmark (no servers started)")
    parser.add_argument("--cold-only", action="store_true", help="only the cold-record benchmark (issue 12)")
    parser.add_argument("--cold-patients", type=int, default=40, help="fresh patients per record size (default 40)")
    parser.add_argument("--cold-workers", default="gevent",
                        help="cold bench: gunicorn worker classes, compared in one run (e.g. gevent,gthread)")
    parser.add_argument("--cold-sizes", default="1000,3000", help="cold bench: resources per record (1000,3000)")
    parser.add_argument("--slow-only", action="store_true", help="only the slow-client drill (issue 10)")
    parser.add_argument("--drippers", type=int, default=12, help="slow-client drill: dripping connections (max 60)")
    parser.add_argument("--drills-only", action="store_true", help="only the load run and drills (issue 11)")
    parser.add_argument("--no-drills", action="store_true", help="skip the load run and drills")
    parser.add_argument("--soak-minutes", type=float, default=10.0, help="soak length in the drills (default 10)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    sections: dict[str, Any] = {}
    only = args.slow_only or args.cold_only or args.drills_only
    if not only:
        records = [demo_record(), synthetic_record()]
        engine_rows = engine_bench.run(records)
        print(report.engine_table(engine_rows) + "\n", flush=True)
        sections["engine"] = [row.as_json() for row in engine_rows]
        if not args.engine_only:
            service_rows, setup = service_bench.run(records, calls=max(1, min(args.calls, 1000)))
            print(report.service_table(service_rows, setup) + "\n", flush=True)
            sections["service"] = {"setup": setup, "rows": [row.as_json() for row in service_rows]}
    if args.cold_only or not (only or args.engine_only):
        cold_rows = cold.run(**_cold_args(args))
        print(cold.table(cold_rows) + "\n", flush=True)
        sections["cold"] = [row.as_json() for row in cold_rows]
    if args.slow_only or not (only or args.engine_only):
        slow = slow_clients.run(drippers=args.drippers)
        print(slow_clients.table(slow) + "\n", flush=True)
        sections["slow_clients"] = slow
    if args.drills_only or not (only or args.engine_only or args.no_drills):
        drill_rows = drills.run(soak_minutes=args.soak_minutes)
        print(drills.table(drill_rows) + "\n", flush=True)
        sections["drills"] = drill_rows
    path = report.write_json(sections, time.monotonic() - started)
    print(f"written {path} in {time.monotonic() - started:.0f} s")
    return 0


def _cold_args(args: argparse.Namespace) -> dict[str, Any]:
    return {"patients": args.cold_patients, "sizes": tuple(int(s) for s in args.cold_sizes.split(",")),
            "worker_classes": tuple(w.strip() for w in args.cold_workers.split(",") if w.strip())}


if __name__ == "__main__":
    sys.exit(main())
