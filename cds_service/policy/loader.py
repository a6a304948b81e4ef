"""Reads revision files (TOML) and the value-set file, strictly: anything unexpected fails at start-up.

TOML because a policy analyst can read it, the standard library parses it, and the parser itself refuses
duplicate keys.
"""
from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cds_service.errors import ConfigurationError
from cds_service.policy.model import ORDER_KINDS, Criterion, Revision
from cds_service.policy.valuesets import ValueSetError, ValueSets

REVISION_KEYS = frozenset({"policy", "title", "revision", "label", "effective", "provenance", "source", "criterion"})
CRITERION_KEYS = frozenset({"id", "title", "text", "check", "applies_to", "attestable", "params"})
PROVENANCES = ("published", "reconstructed from the revision log")


class PolicyDataError(ConfigurationError, ValueError):
    """A policy data file is malformed. The message names the file and the problem."""


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise PolicyDataError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def load_valuesets(path: Path) -> ValueSets:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_reject_duplicate_keys)
        return ValueSets.from_json(data)
    except (ValueSetError, PolicyDataError, json.JSONDecodeError) as exc:
        raise PolicyDataError(f"{path.name}: {exc}") from None


def load_revision(path: Path, *, check_params: Mapping[str, frozenset[str]], valuesets: ValueSets) -> Revision:
    """Parse one revision file. `check_params` maps each known check to the parameter names it accepts."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        # tomllib refuses a key given twice ("Cannot overwrite a value"): say so in words an analyst knows.
        raise PolicyDataError(f"{path.name}: not valid TOML, or a key is given twice ({exc})") from None

    def fail(message: str) -> PolicyDataError:
        return PolicyDataError(f"{path.name}: {message}")

    unknown = set(data) - REVISION_KEYS
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    for key in ("policy", "title", "revision", "label", "provenance", "source"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise fail(f"{key!r} must be a non-empty string")
    if not isinstance(data.get("effective"), date):
        raise fail("'effective' must be a TOML date (YYYY-MM-DD)")
    if not data["provenance"].startswith(PROVENANCES):
        raise fail(f"'provenance' must start with one of {PROVENANCES}")
    rows = data.get("criterion")
    if not isinstance(rows, list) or not rows:
        raise fail("no [[criterion]] entries")

    criteria: list[Criterion] = []
    seen_ids: set[str] = set()
    for i, row in enumerate(rows):
        where = f"criterion #{i + 1} ({row.get('id', '?')})"
        unknown = set(row) - CRITERION_KEYS
        if unknown:
            raise fail(f"{where}: unknown keys {sorted(unknown)}")
        for key in ("id", "title", "text", "check"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise fail(f"{where}: {key!r} must be a non-empty string")
        if row["id"] in seen_ids:
            raise fail(f"{where}: duplicate criterion id {row['id']!r}")
        seen_ids.add(row["id"])
        if row["check"] not in check_params:
            raise fail(f"{where}: unknown check {row['check']!r}")
        applies_to = row.get("applies_to")
        if not isinstance(applies_to, list) or not applies_to:
            raise fail(f"{where}: 'applies_to' must be a non-empty list")
        bad_kinds = set(applies_to) - ORDER_KINDS - {"all"}
        if bad_kinds:
            raise fail(f"{where}: unknown order kinds {sorted(bad_kinds)}")
        params = row.get("params", {})
        if not isinstance(params, dict):
            raise fail(f"{where}: 'params' must be a table")
        bad_params = set(params) - check_params[row["check"]]
        if bad_params:
            raise fail(f"{where}: check {row['check']!r} takes no parameters {sorted(bad_params)}")
        for key, value in params.items():
            names = value if isinstance(value, list) and key.endswith("valuesets") else []
            missing = [n for n in names if n not in valuesets.names()]
            if missing:
                raise fail(f"{where}: unknown value sets {missing}")
        if not isinstance(row.get("attestable", False), bool):
            raise fail(f"{where}: 'attestable' must be true or false")
        criteria.append(
            Criterion(
                id=row["id"],
                title=row["title"],
                text=row["text"],
                check=row["check"],
                applies_to=frozenset(applies_to),
                attestable=row.get("attestable", False),
                params=MappingProxyType(dict(params)),
            )
        )
    return Revision(
        policy=data["policy"],
        title=data["title"],
        revision=data["revision"],
        label=data["label"],
        effective=data["effective"],
        provenance=data["provenance"],
        source=data["source"],
        criteria=tuple(criteria),
    )
