"""All revisions of a policy, and which one is in force on a date of service."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from itertools import pairwise
from pathlib import Path

from cds_service.policy.errors import PolicyDataError
from cds_service.policy.loader import load_revision, load_valuesets
from cds_service.policy.model import Revision
from cds_service.policy.params import CheckParams
from cds_service.policy.scope import SHIPPED_SCOPE_FILE, ScopeTable, load_scope_table, shipped_scope
from cds_service.policy.valuesets import ValueSets

DATA_DIR = Path(__file__).resolve().parent / "data" / "cp-mp-171"


@dataclass(frozen=True)
class PolicyLibrary:
    revisions: tuple[Revision, ...]  # ordered by effective date
    valuesets: ValueSets
    scope: ScopeTable | None = None  # the in-scope codes (scope.toml)

    @classmethod
    def load(
        cls,
        check_params: Mapping[str, type[CheckParams]],
        directory: Path = DATA_DIR,
        effective_overrides: Mapping[str, date] | None = None,
        required_valuesets: Iterable[str] = (),
    ) -> PolicyLibrary:
        """Load the value sets, the scope table and every revision (`YYYY-MM-DD.toml`, named by its effective
        date) in `directory`. `check_params` maps each check to its parameter model; `required_valuesets` are
        those the engine's code relies on; `effective_overrides` lets the plan move a date."""
        valuesets = load_valuesets(directory / "valuesets.json")
        missing = sorted(set(required_valuesets) - valuesets.names())
        if missing:
            raise PolicyDataError(f"valuesets.json: value sets the engine relies on are missing: {missing}")
        scope_file = directory / "scope.toml"
        scope = shipped_scope() if scope_file.resolve() == SHIPPED_SCOPE_FILE else load_scope_table(scope_file)
        revisions = [
            load_revision(p, check_params=check_params, valuesets=valuesets)
            for p in sorted(directory.glob("[0-9]*.toml"))
        ]
        if not revisions:
            raise PolicyDataError(f"no policy revisions in {directory}")
        for rev_id, effective in (effective_overrides or {}).items():
            matches = [i for i, r in enumerate(revisions) if r.revision == rev_id]
            if not matches:
                raise PolicyDataError(f"effective-date override names unknown revision {rev_id!r}")
            revisions[matches[0]] = replace(revisions[matches[0]], effective=effective)
        revisions.sort(key=lambda r: r.effective)
        for earlier, later in pairwise(revisions):
            if earlier.effective == later.effective:
                raise PolicyDataError(f"revisions {earlier.revision} and {later.revision} share an effective date")
            if earlier.policy != later.policy:
                raise PolicyDataError("one library holds one policy")
        ids = [r.revision for r in revisions]
        if len(set(ids)) != len(ids):
            raise PolicyDataError(f"duplicate revision ids in {ids}")
        return cls(tuple(revisions), valuesets, scope)

    def revision_for(self, date_of_service: date) -> Revision | None:
        """The latest revision whose effective date is on or before the date of service."""
        in_force = [r for r in self.revisions if r.effective <= date_of_service]
        return in_force[-1] if in_force else None

    def get(self, revision_id: str) -> Revision:
        for r in self.revisions:
            if r.revision == revision_id:
                return r
        raise KeyError(revision_id)
