"""Build the synthetic CP.MP.171 scenario files in fhir_fixtures/scenarios/ (run from the repository root):

    .venv/bin/python -m fhir_fixtures           # write the files and the README table, then self-check
    .venv/bin/python -m fhir_fixtures --check   # compare the committed files with the generator, self-check them
"""
from __future__ import annotations

import argparse
import json
import sys

from fhir_fixtures.generate import OTHER_GENERATOR_PREFIX, OUT_DIR, differences, documents, write
from fhir_fixtures.validate import check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fhir_fixtures", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare the files on disk with the generator")
    args = parser.parse_args(argv)
    if args.check:
        stale = differences()
        for name in stale:
            print(f"out of date: fhir_fixtures/{name} (run `python -m fhir_fixtures` and commit)", file=sys.stderr)
        docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(OUT_DIR.glob("*.json"))
                if not p.name.startswith(OTHER_GENERATOR_PREFIX)]
    else:
        stale = []
        docs = documents()
        write(docs)
    problems = check(docs)
    for problem in problems:
        print(problem, file=sys.stderr)
    resources = sum(len(d["record"]["entry"]) + len(d["draftOrders"]["entry"]) for d in docs)
    print(f"{len(docs)} scenarios, {resources} resources, {len(problems)} problems, {len(stale)} files out of date")
    return 1 if problems or stale else 0


if __name__ == "__main__":
    sys.exit(main())
