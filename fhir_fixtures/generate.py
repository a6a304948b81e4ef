"""The scenario files and the README, rendered in memory: what `python -m fhir_fixtures` writes and what the
tests compare with the committed files."""
from __future__ import annotations

import json
from pathlib import Path

from fhir_fixtures.readme import readme_with_table
from fhir_fixtures.stories import ALL

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "scenarios"
README = HERE / "README.md"
# rw-* files belong to fhir_fixtures/real_world (its own generator): never written or removed here.
OTHER_GENERATOR_PREFIX = "rw-"


def documents() -> list[dict]:
    """Every story told afresh (each call builds new resources, so callers may change them)."""
    return [make().document() for make in ALL]


def render_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def rendered(docs: list[dict] | None = None) -> dict[str, str]:
    """file name (relative to fhir_fixtures/) → its text: every scenarios/*.json, then README.md."""
    docs = documents() if docs is None else docs
    files = {f"scenarios/{d['id']}.json": render_json(d) for d in docs}
    files["README.md"] = readme_with_table(README.read_text(encoding="utf-8"), docs)
    return files


def committed() -> dict[str, str]:
    """The same files as they are on disk (rw-* left out)."""
    files = {f"scenarios/{p.name}": p.read_text(encoding="utf-8") for p in sorted(OUT_DIR.glob("*.json"))
             if not p.name.startswith(OTHER_GENERATOR_PREFIX)}
    files["README.md"] = README.read_text(encoding="utf-8")
    return files


def differences(want: dict[str, str] | None = None) -> list[str]:
    """Names of the files whose committed text differs from the generator's (missing or stale ones too)."""
    want = rendered() if want is None else want
    have = committed()
    return sorted(name for name in set(want) | set(have) if want.get(name) != have.get(name))


def write(docs: list[dict]) -> None:
    files = rendered(docs)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for stale in OUT_DIR.glob("*.json"):
        if not stale.name.startswith(OTHER_GENERATOR_PREFIX) and f"scenarios/{stale.name}" not in files:
            stale.unlink()
    for name, text in files.items():
        (HERE / name).write_text(text, encoding="utf-8")
