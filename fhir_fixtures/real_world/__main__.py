"""`python -m fhir_fixtures.real_world [--check]`: write (or compare) fhir_fixtures/scenarios/rw-*.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from fhir_fixtures.real_world.cases import build_all

OUT = Path(__file__).resolve().parents[1] / "scenarios"
README = Path(__file__).resolve().parent / "README.md"
HEADER = """# Real-world scenarios (second reader, issue 8)

Written from the policy texts (`../shared/policy/`, both revisions), contract §4 and the clinical mapping alone,
without reading the engine. `python -m fhir_fixtures.real_world` writes `fhir_fixtures/scenarios/rw-*.json` and
this README; `--check` compares both in memory (tested in `tests/integration/service/test_real_world_scenarios.py`,
which also runs every scenario over real HTTP, prefetched and fetched from SEKMET).

Each line: id — expectation (revision, decision; key criteria) — clause — the trap (a wrong approval or a wrong
denial the case would catch). Expectations were written before the first run. `settled:` records a disagreement
resolved by re-reading the text in the engine's favour; `ENGINE_DISAGREES` in the test lists the scenarios whose
expectation stands against the engine (strict xfail with the engine's mistake as reason).

Records are shaped like EHR exports: US Core `meta.profile`, Epic/Cerner-style extensions, OID code systems,
ICD-10 without dots, contained Medications, urn:uuid fullUrls, performedPeriod, quantity+dosage-only orders.
05/26 scenarios are dated 2026-11-20; 2019 ones 2023-03-13 (before any revision reconstructed from the 05/26 log).
rw-* files are kept out of `all_scenarios()` (the shipped set) and loaded by `rw_scenarios()`.

**settled (every scenario):** the first draft had no evidence that conservative therapy *failed* (05/26 I.A.1.b,
2019 I.A.3: "failed to respond"); the engine asked for it and the text agrees, so each record now carries a pain
score (NRS 7) after the courses ended, as a chart would. No expectation changed.

"""


def rendered() -> dict[str, str]:
    return {f"{s['id']}.json": json.dumps(s, indent=2, ensure_ascii=False) + "\n" for s in build_all()}


def readme() -> str:
    lines = []
    for s in build_all():
        e = s["expected"][0]
        crit = ", ".join(f"{k} {v}" for k, v in e["criteria"].items())
        orders = f" (orders: {s['expectedByOrder']})" if "expectedByOrder" in s else ""
        settled = f" **{s['settled']}**" if "settled" in s else ""
        lines.append(f"- `{s['id']}` — {e['revision']} **{e['decision']}**{orders}; {crit} — {s['clause']} — "
                     f"{s['trap']}. {s['purpose']}.{settled}")
    return HEADER + "\n".join(lines) + "\n"


def differences() -> list[str]:
    want = rendered()
    have = {p.name: p.read_text(encoding="utf-8") for p in OUT.glob("rw-*.json")}
    diff = sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))
    return diff + ([] if README.exists() and README.read_text(encoding="utf-8") == readme() else ["README.md"])


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
    README.write_text(readme(), encoding="utf-8")
    print(f"wrote {len(rendered())} real-world scenarios to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
