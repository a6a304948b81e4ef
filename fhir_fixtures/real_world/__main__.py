"""`python -m fhir_fixtures.real_world [--check]`: write (or compare) fhir_fixtures/scenarios/rw-*.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from fhir_fixtures.real_world.cases import build_all

OUT = Path(__file__).resolve().parents[1] / "scenarios"


def rendered() -> dict[str, str]:
    return {f"{s['id']}.json": json.dumps(s, indent=2, ensure_ascii=False) + "\n" for s in build_all()}


def differences() -> list[str]:
    want = rendered()
    have = {p.name: p.read_text(encoding="utf-8") for p in OUT.glob("rw-*.json")}
    return sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))


def main(argv: list[str]) -> int:
    if "--check" in argv:
        diff = differences()
        for name in diff:
            print(f"out of date: fhir_fixtures/scenarios/{name}", file=sys.stderr)
        return 1 if diff else 0
    for old in OUT.glob("rw-*.json"):
        old.unlink()
    for name, text in rendered().items():
        (OUT / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(rendered())} real-world scenarios to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
