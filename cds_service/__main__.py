"""Command line: `python -m cds_service evaluate|serve|demo` (contract §1)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path


def _read_json(path: str) -> object:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{path}: not readable JSON ({exc})") from None


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cds_service.cdshooks.request import validate_draft_orders
    from cds_service.evaluation.results import SkippedResource
    from cds_service.fhir_access.normalize import normalize_bundle_entries, normalize_resources
    from cds_service.usecases.engine import default_library, evaluate
    from cds_service.usecases.report import evaluation_to_json, evaluation_to_text

    record_json = _read_json(args.record)
    if args.order is None:  # one fixture file, as fhir_fixtures/scenarios/*.json ship them
        if not isinstance(record_json, dict) or "record" not in record_json or "draftOrders" not in record_json:
            print(f"{args.record}: expected a file with 'record' and 'draftOrders' (a scenario of fhir_fixtures/), "
                  "or give RECORD.json ORDER.json", file=sys.stderr)
            return 2
        args.order = f"{args.record} (draftOrders)"
        record_json, order_json = record_json["record"], record_json["draftOrders"]
        args.record = f"{args.record} (record)"
    else:
        order_json = _read_json(args.order)
    if not isinstance(record_json, dict) or record_json.get("resourceType") != "Bundle":
        print(f"{args.record}: expected a FHIR Bundle of the patient's resources", file=sys.stderr)
        return 2
    if not isinstance(order_json, dict) or order_json.get("resourceType") not in ("ServiceRequest", "Bundle"):
        print(f"{args.order}: expected a ServiceRequest or a Bundle of draft orders", file=sys.stderr)
        return 2
    library = default_library()
    if args.revision and args.revision not in {r.revision for r in library.revisions}:
        print(
            f"unknown revision {args.revision!r}; known: {', '.join(r.revision for r in library.revisions)}",
            file=sys.stderr,
        )
        return 2
    record = normalize_resources(normalize_bundle_entries(record_json))
    orders = validate_draft_orders(normalize_bundle_entries(order_json))  # as the service validates them
    skipped = [
        SkippedResource(s.resource_type or "?", s.resource_id, s.problem) for s in [*record.skipped, *orders.skipped]
    ]
    evaluation = evaluate(library, record.resources, orders.valid, today=args.date or date.today(),
                          revision_id=args.revision, skipped=skipped)
    print(json.dumps(evaluation_to_json(evaluation), indent=2) if args.json else evaluation_to_text(evaluation))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from cds_service.app import serve

    return serve(host=args.host, port=args.port)


def cmd_demo(args: argparse.Namespace) -> int:
    from cds_service.dev.demo import main as demo_main

    return demo_main()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cds_service", description="CP.MP.171 facet-joint CDS Hooks service"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="evaluate one order offline against the policy")
    ev.add_argument("record", help="FHIR Bundle (any type) of the patient's resources, or one fixture file "
                                   "holding 'record' and 'draftOrders' (as fhir_fixtures/scenarios/*.json)")
    ev.add_argument("order", nargs="?", help="a ServiceRequest, or a Bundle of the draft orders of one session")
    ev.add_argument("--date", type=_iso_date, help="today's date, used when the order has no date of service")
    ev.add_argument("--revision", help="what-if: evaluate against this revision id instead of the one in force")
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.set_defaults(func=cmd_evaluate)

    sv = sub.add_parser("serve", help="run the CDS Hooks service")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8090)
    sv.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="start a FHIR server with the demo patients and the service (make run)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except BrokenPipeError:  # `evaluate ... | head`: the reader left; no traceback for that
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush stays quiet
        return 0
    except SystemExit as exc:  # argparse and _read_json: unusable input is exit 2 with a one-line reason
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        return int(exc.code or 0)


if __name__ == "__main__":
    sys.exit(main())
