"""Command line: `python -m cds_service evaluate|serve|demo|migrate|purge-audit|export-audit` (contract §1)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cds_service.settings import Settings


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
    from cds_service.fhir_access.bundle_links import entries_with_full_urls, link_full_urls
    from cds_service.fhir_access.normalize import normalize_resources
    from cds_service.policy.errors import PolicyDataError
    from cds_service.settings import SettingsError, revision_effective
    from cds_service.usecases.engine import evaluate, load_library
    from cds_service.usecases.report import evaluation_to_text
    from cds_service.usecases.serialise import evaluation_to_json

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
    try:
        library = load_library(revision_effective(os.environ.get("CDS_REVISION_EFFECTIVE")))
    except (SettingsError, PolicyDataError) as exc:  # e.g. an effective date for a revision that is not shipped
        print(f"CDS_REVISION_EFFECTIVE: {exc}" if isinstance(exc, PolicyDataError) else exc, file=sys.stderr)
        return 2
    if args.revision and args.revision not in {r.revision for r in library.revisions}:
        print(
            f"unknown revision {args.revision!r}; known: {', '.join(r.revision for r in library.revisions)}",
            file=sys.stderr,
        )
        return 2
    # `urn:uuid:` references between entries (record and orders alike) read as the service reads a prefetch.
    raw_record, raw_orders = entries_with_full_urls(record_json), entries_with_full_urls(order_json)
    linked = link_full_urls(raw_record + raw_orders)
    record = normalize_resources(linked[:len(raw_record)])
    orders = validate_draft_orders(linked[len(raw_record):])  # as the service validates them
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


def _database(*, must_exist: bool = False) -> Settings:
    """Settings from the environment; `must_exist`: a command that reads the audit never creates a database."""
    from cds_service.settings import Settings, SettingsError

    settings = Settings.from_env()
    if must_exist and settings.database.kind == "sqlite" and not settings.database.sqlite_path.exists():
        raise SettingsError(f"no database at {settings.database.sqlite_path} (set CDS_DATABASE_URL)")
    return settings


def cmd_migrate(args: argparse.Namespace) -> int:
    from cds_service.storage import migrate

    settings = _database()
    if args.break_lock:
        migrate.break_lock(settings.database)
        print("migration lock removed")
    state = migrate.apply(settings.database) if not args.status else migrate.state(settings.database)
    print(f"schema version {state.version}; applied: {', '.join(state.applied) or '-'}; "
          f"pending: {', '.join(state.pending) or '-'}")
    return 0


def cmd_purge_audit(args: argparse.Namespace) -> int:
    from cds_service.storage.retention import purge
    from cds_service.storage.store import Store

    settings = _database(must_exist=True)
    days = settings.audit_retention_days if args.days is None else args.days
    if days <= 0:
        print("CDS_AUDIT_RETENTION_DAYS is 0: the audit is kept forever, nothing purged")
        return 0
    deleted = purge(Store(settings.database), days)
    print(f"older than {days} days: " + ", ".join(f"{n} {table}" for table, n in deleted.items()))
    return 0


def cmd_export_audit(args: argparse.Namespace) -> int:
    from cds_service.storage.export import export
    from cds_service.storage.store import Store

    if args.to < args.from_:
        print("--to is before --from", file=sys.stderr)
        return 2
    store = Store(_database(must_exist=True).database)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        for chunk in export(store, args.from_, args.to, args.format):
            out.write(chunk)
    finally:
        if args.output:
            out.close()
    return 0


def _storage_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A storage command's expected failures (bad settings, database down) as one line and exit 2."""
    def run(args: argparse.Namespace) -> int:
        from cds_service.settings import SettingsError
        from cds_service.storage.errors import DatabaseUnavailable, one_line

        try:
            return int(command(args))
        except (SettingsError, DatabaseUnavailable) as exc:
            print(f"{args.command}: {exc}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - a driver error (database unreachable, lock held): one line
            print(f"{args.command}: {one_line(exc)}", file=sys.stderr)
        return 2
    return run


def _non_negative(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days")
    return int(value)


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
    sv.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8090),
                    help="default: $PORT, else 8090 (the container image sets PORT)")
    sv.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="start a FHIR server with the demo patients and the service (make run)")
    demo.set_defaults(func=cmd_demo)

    mg = sub.add_parser("migrate", help="bring the database (CDS_DATABASE_URL) to the newest schema version")
    mg.add_argument("--status", action="store_true", help="only print the schema version and what is pending")
    mg.add_argument("--break-lock", action="store_true",
                    help="first remove a migration lock left by a process killed while migrating")
    mg.set_defaults(func=_storage_errors(cmd_migrate))

    pa = sub.add_parser("purge-audit", help="delete audit rows older than CDS_AUDIT_RETENTION_DAYS, now")
    pa.add_argument("--days", type=_non_negative, help="this retention instead of CDS_AUDIT_RETENTION_DAYS")
    pa.set_defaults(func=_storage_errors(cmd_purge_audit))

    ex = sub.add_parser("export-audit", help="write the audit of UTC days FROM..TO (both included)")
    ex.add_argument("--from", dest="from_", type=_iso_date, required=True, help="first day, YYYY-MM-DD (UTC)")
    ex.add_argument("--to", type=_iso_date, required=True, help="last day, YYYY-MM-DD (UTC), included")
    ex.add_argument("--format", choices=("csv", "ndjson"), default="csv")
    ex.add_argument("--output", "-o", help="a file to write (default: standard output)")
    ex.set_defaults(func=_storage_errors(cmd_export_audit))
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
