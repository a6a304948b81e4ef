"""Reads revision files (TOML) and the value-set file, strictly: anything unexpected fails at start-up.

TOML because a policy analyst can read it, the standard library parses it, and the parser itself refuses
duplicate keys.
"""
from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from cds_service.policy.errors import PolicyDataError
from cds_service.policy.model import ALL_KINDS, ORDER_KINDS, Criterion, Revision
from cds_service.policy.params import CheckParams, params_valuesets, parse_params
from cds_service.policy.terms import DecidableAt, Fix
from cds_service.policy.valuesets import ValueSetError, ValueSets

REVISION_KEYS = frozenset({"policy", "title", "revision", "label", "effective", "provenance", "source", "criterion"})
CRITERION_KEYS = frozenset(
    {"id", "title", "text", "check", "applies_to", "attestable", "params", "decidable_at", "fix"}
)
# A value set named for one revision ("ct-chiropractic-2019-only") may be listed by that revision alone.
REVISION_ONLY = re.compile(r"-(\d{4})-only$")
PROVENANCES = ("published", "reconstructed from the revision log")


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


def load_revision(path: Path, *, check_params: Mapping[str, type[CheckParams]], valuesets: ValueSets) -> Revision:
    """Parse one revision file. `check_params` maps each known check to its typed parameter model."""
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
    if path.stem != data["effective"].isoformat():
        raise fail(f"a revision file is named by its effective date: {data['effective'].isoformat()}.toml")
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
        bad_kinds = set(applies_to) - ORDER_KINDS - {ALL_KINDS}
        if bad_kinds:
            raise fail(f"{where}: unknown order kinds {sorted(bad_kinds)}")
        params = row.get("params", {})
        if not isinstance(params, dict):
            raise fail(f"{where}: 'params' must be a table")
        try:
            typed = parse_params(check_params[row["check"]], params, valuesets.names())
        except PolicyDataError as exc:
            raise fail(f"{where}: check {row['check']!r} {exc}") from None
        foreign = sorted(n for n in params_valuesets(typed)
                         if (m := REVISION_ONLY.search(n)) and not data["revision"].startswith(m.group(1)))
        if foreign:
            raise fail(f"{where}: value sets {foreign} belong to another revision")
        if not isinstance(row.get("attestable", False), bool):
            raise fail(f"{where}: 'attestable' must be true or false")
        try:
            decidable_at = DecidableAt(row.get("decidable_at", DecidableAt.ORDER_SIGN))
            fix = Fix(row["fix"]) if "fix" in row else None
        except ValueError as exc:
            raise fail(f"{where}: {exc}") from None
        criteria.append(
            Criterion(
                id=row["id"],
                title=row["title"],
                text=row["text"],
                check=row["check"],
                applies_to=frozenset(applies_to),
                attestable=row.get("attestable", False),
                params=typed,
                decidable_at=decidable_at,
                fix=fix,
            )
        )
    criteria = _resolve_references(criteria, fail)
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


def _resolve_references(criteria: list[Criterion], fail: Any) -> list[Criterion]:
    """A parameter naming another criterion (`exception_criterion`) must name one of this revision, of the
    check it declares; a fix needs what the card uses (`fix = "levels"` reads the criterion's `max_levels`)."""
    by_id = {c.id: c for c in criteria}
    out = []
    for c in criteria:
        where = f"criterion {c.id!r}"
        for name, wanted_check in type(c.params).criterion_refs.items():
            ref = getattr(c.params, name)
            if ref is None:
                continue
            target = by_id.get(ref)
            if target is None or target.check != wanted_check:
                raise fail(f"{where}: parameter {name!r} names {ref!r}, which is not a {wanted_check!r} criterion "
                           "of this revision")
            c = replace(c, params=replace(c.params, **{name.removesuffix("_criterion"): target.params}))
        if c.fix is Fix.LEVELS and _max_levels(c) < 0:
            raise fail(f"{where}: fix = 'levels' needs a check with a 'max_levels' parameter")
        out.append(c)
    for kind in ORDER_KINDS:  # the card proposes one limit per order: the level criteria of a kind agree on it
        limits = {_max_levels(c) for c in out if c.fix is Fix.LEVELS and c.applies(kind)}
        if len(limits) > 1:
            raise fail(f"the fix = 'levels' criteria for a {kind} order give different max_levels {sorted(limits)}")
    return out


def _max_levels(criterion: Criterion) -> int:
    """The `max_levels` parameter of a criterion's check; -1 when its check has none."""
    value = getattr(criterion.params, "max_levels", None)
    return value if isinstance(value, int) else -1
