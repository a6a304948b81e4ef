"""The synthetic scenarios of fhir_fixtures/, loaded once, for engine, HTTP and browser tests."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fhir_fixtures" / "scenarios"


@lru_cache(maxsize=1)
def all_scenarios() -> tuple[dict[str, Any], ...]:
    """The shipped scenarios; the second reader's rw-* ones have their own test (some are strict xfails)."""
    return tuple(json.loads(p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.glob("*.json"))
                 if not p.name.startswith("rw-"))


@lru_cache(maxsize=1)
def rw_scenarios() -> tuple[dict[str, Any], ...]:
    """Real-world-shaped scenarios written from the policy texts alone (fhir_fixtures/real_world/)."""
    return tuple(json.loads(p.read_text(encoding="utf-8")) for p in sorted(FIXTURES.glob("rw-*.json")))


def scenario(scenario_id: str) -> dict[str, Any]:
    """A private copy: a test may change it without touching what other tests read."""
    return copy.deepcopy(next(s for s in all_scenarios() if s["id"] == scenario_id))


def record_resources(s: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in s["record"].get("entry", [])]


def draft_orders(s: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in s["draftOrders"].get("entry", [])]
