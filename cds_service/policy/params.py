"""Typed check parameters: each check declares a frozen dataclass; a revision's `params` table must fit it.

Validated at load, so a threshold given as a string, a missing threshold, an unknown parameter or a value set
that does not exist fails at start-up with the file and the criterion named, never on a call.

Field types understood: `int`, `bool`, `str`, a StrEnum, `tuple[str, ...]`, each optionally `| None` (then the field
needs a default and may be left out). A `tuple[str, ...]` declared with `valuesets()` names value sets.
"""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from cds_service.policy.errors import PolicyDataError

P = TypeVar("P", bound="CheckParams")


@dataclasses.dataclass(frozen=True)
class CheckParams:
    """Base of every check's parameters. A check with none uses `NoParams`."""

    # Parameters that name another criterion of the same revision, and the check that criterion must have.
    criterion_refs: ClassVar[Mapping[str, str]] = {}

    def problem(self) -> str | None:
        """What is wrong with these values together (one parameter needing another), or None."""
        return None


@dataclasses.dataclass(frozen=True)
class NoParams(CheckParams):
    pass


def valuesets(*, optional: bool = False) -> Any:
    """A field that lists value-set names: each must exist in valuesets.json."""
    meta = {"valuesets": True}
    return dataclasses.field(default=None, metadata=meta) if optional else dataclasses.field(metadata=meta)


def resolved(*, default: Any = None) -> Any:
    """A field the loader fills from the criterion a `criterion_refs` parameter names (never from data)."""
    return dataclasses.field(default=default, metadata={"resolved": True})


def names_valuesets(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata.get("valuesets"))


def _check_type(name: str, value: Any, hint: Any) -> Any:
    """The value as the field holds it, or PolicyDataError saying what was expected."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _check_type(name, value, inner[0])
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise PolicyDataError(
                f"parameter {name!r} must be one of {[m.value for m in hint]}, not {value!r}"
            ) from None
    if hint is bool:
        if not isinstance(value, bool):
            raise PolicyDataError(f"parameter {name!r} must be true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyDataError(f"parameter {name!r} must be a whole number, not {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str) or not value.strip():
            raise PolicyDataError(f"parameter {name!r} must be a non-empty string, not {value!r}")
        return value
    if typing.get_origin(hint) is tuple and args[1:] == (Ellipsis,) and args[0] is str:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise PolicyDataError(f"parameter {name!r} must be a list of strings, not {value!r}")
        return tuple(value)
    raise TypeError(f"unsupported parameter type {hint!r} for {name!r}")  # a programming error, not data


def parse_params(model: type[P], raw: Mapping[str, Any], known_valuesets: frozenset[str]) -> P:
    """Build `model` from a criterion's `params` table, strictly."""
    hints = typing.get_type_hints(model)
    fields = {f.name: f for f in dataclasses.fields(model) if not f.metadata.get("resolved")}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise PolicyDataError(f"takes no parameters {unknown} (it takes {sorted(fields) or 'none'})")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if name not in raw:
            if required:
                raise PolicyDataError(f"parameter {name!r} is missing")
            continue
        values[name] = _check_type(name, raw[name], hints[name])
        if names_valuesets(f):
            missing = [n for n in values[name] if n not in known_valuesets]
            if missing:
                raise PolicyDataError(f"parameter {name!r}: unknown value sets {missing} (not in valuesets.json)")
    params = model(**values)
    problem = params.problem()
    if problem:
        raise PolicyDataError(problem)
    return params


def params_valuesets(params: CheckParams) -> frozenset[str]:
    """Every value-set name the parameters list."""
    out: set[str] = set()
    for f in dataclasses.fields(params):
        if names_valuesets(f):
            out |= set(getattr(params, f.name) or ())
    return frozenset(out)
