"""Turn FHIR resources as EHRs really send them into plain dicts that validate against the R4B models.

Real clients send single objects where FHIR wants arrays, empty `coding: [{}]`, dateTimes without a
timezone and elements R4B does not know. Each resource is cleaned up (every change is recorded as a
"fix"), then validated on its own with `fhir.resources.R4B`, so one bad resource is skipped and named
instead of discarding the whole record. The engine reads the cleaned plain dicts, not pydantic models.

Validation costs 0.2-0.6 ms per resource and every hook call repeats the same record, so results are kept
in a bounded process-wide LRU keyed by a hash of the raw resource's canonical JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from pydantic import TypeAdapter, ValidationError

from cds_service.fhir_access.json_values import json_copy
from cds_service.fhir_access.model_shapes import (
    ElementShape,
    JsonKind,
    ModelClass,
    element_shapes,
    resource_model,
    shape_at,
)

CACHE_MAX_ENTRIES = 20_000

# Order types of older FHIR versions (contract: R4 only), named so the skip message says why.
_PRE_R4_RESOURCE_TYPES = {
    "MedicationOrder": "DSTU2",
    "ProcedureRequest": "DSTU2/STU3",
    "DiagnosticOrder": "DSTU2",
    "DeviceUseRequest": "DSTU2",
    "ReferralRequest": "STU3",
}

# A dateTime/instant with a time but no timezone, which FHIR (and R4B) rejects.
_TIME_WITHOUT_TIMEZONE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?")
_ZONED_TYPES = frozenset({"dateTime", "instant"})

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

# fhir.resources' message when more than one type of a choice element (value[x]) is given.
_ONE_OF_MANY = re.compile(r"from this list \[(.*)\], but got multiple")


@dataclass(frozen=True)
class Ok:
    """A resource that validates against R4B, as a plain JSON dict, and what was changed to get there."""

    resource: dict[str, Any]
    fixes: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return _ref(self.resource.get("resourceType"), self.resource.get("id"))


@dataclass(frozen=True)
class Skipped:
    """A resource that could not be used; `problem` names it and says why, in one short line."""

    resource_type: str | None
    resource_id: str | None
    problem: str

    @property
    def ref(self) -> str:
        return _ref(self.resource_type, self.resource_id)


NormalizedResult = Ok | Skipped


@dataclass
class NormalizedBatch:
    resources: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    fixes: dict[str, list[str]] = field(default_factory=dict)  # ref -> fixes, only for fixed resources


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    size: int
    max_size: int


def normalize_resource(raw: Any) -> NormalizedResult:
    """Clean up and validate one resource; never raises for any JSON input."""
    key = _cache_key(raw)
    if key is None:  # not JSON-serialisable: cannot be cached, but still gets a verdict
        return _normalize_uncached(raw)
    stored = _results.get(key)
    if stored is None:
        result = _normalize_uncached(raw)
        _results.put(key, _stored_form(result))
        return result  # its dicts are new (cleaning copies every container): nobody else holds them
    return _from_stored_form(stored)


def normalize_resources(raws: Iterable[Any]) -> NormalizedBatch:
    batch = NormalizedBatch()
    for raw in raws:
        result = normalize_resource(raw)
        if isinstance(result, Skipped):
            batch.skipped.append(result)
            continue
        batch.resources.append(result.resource)
        if result.fixes:
            batch.fixes.setdefault(result.ref, []).extend(result.fixes)
    return batch


def normalize_bundle_entries(bundle_or_resource: Any) -> list[dict[str, Any]]:
    """The raw resources in a Bundle (any type, or none), a single resource, a list of either, or None.

    Tolerates what clients send: `entry` as a single object, entries without `resource`, nested Bundles.
    Nothing is validated here.
    """
    if isinstance(bundle_or_resource, list):
        return [resource for item in bundle_or_resource for resource in normalize_bundle_entries(item)]
    if not isinstance(bundle_or_resource, dict):
        return []
    if bundle_or_resource.get("resourceType") != "Bundle":
        return [bundle_or_resource]
    entries = bundle_or_resource.get("entry")
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        return []
    resources: list[dict[str, Any]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        resource = entry.get("resource")
        if type(resource) is dict and resource.get("resourceType") != "Bundle":
            resources.append(resource)  # the usual entry, without a call per entry (issue 12)
        else:
            resources.extend(normalize_bundle_entries(resource))
    return resources


def cache_info() -> CacheInfo:
    return _results.info()


def clear_cache() -> None:
    """Forget every result and every shape learned (the never-seen-anything case of the benchmarks)."""
    _results.clear()
    _accepted_shapes.clear()
    _primitive_verdicts.clear()
    _scalar_keys.clear()


# --- cleaning -------------------------------------------------------------------------------------


class _Unusable(Exception):
    """A value the normaliser cannot repair (wrong JSON type, unknown contained resource type)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path} {problem}")


def _normalize_uncached(raw: Any) -> NormalizedResult:
    if not isinstance(raw, dict):
        return Skipped(None, None, f"not a JSON object (got {_json_type_name(raw)})")
    resource_type, resource_id = raw.get("resourceType"), raw.get("id")
    # named by id only when it is one: a newline or a 10 kB string must not reach a one-line problem
    resource_id = resource_id if isinstance(resource_id, str) and _FHIR_ID.fullmatch(resource_id) else None
    if not isinstance(resource_type, str) or not resource_type:
        return Skipped(None, resource_id, f"{_ref(None, resource_id)}: resourceType is missing")
    model = resource_model(resource_type)
    if model is None:
        return Skipped(resource_type, resource_id, _unknown_type_problem(resource_type, resource_id))
    ref = _ref(resource_type, resource_id)
    try:
        if _shape_key(raw, model, is_resource=True) in _accepted_shapes:  # already clean, of a known shape
            return Ok(json_copy(raw))  # the caller's own, as cleaning would have made it
        cleaned, fixes = _clean_object(raw, model, path="", is_resource=True)
        _validate(model, cleaned)
    except _Unusable as unusable:
        return Skipped(resource_type, resource_id, f"{ref}: {unusable}")
    except ValidationError as error:
        return Skipped(resource_type, resource_id, f"{ref}: {_describe_validation_error(error, model, cleaned)}")
    except RecursionError:
        return Skipped(resource_type, resource_id, f"{ref}: nested too deeply to validate")
    return Ok(cleaned, tuple(fixes))


def _clean_object(
    data: dict[str, Any], model: ModelClass, path: str, is_resource: bool = False
) -> tuple[dict[str, Any], list[str]]:
    shapes = element_shapes(model)
    cleaned: dict[str, Any] = {}
    fixes: list[str] = []
    for name, value in data.items():
        element_path = f"{path}.{name}" if path else name
        if is_resource and name == "resourceType":
            cleaned[name] = value
            continue
        shape = shapes.get(name)
        if shape is None:
            fixes.append(f"{element_path}: dropped element unknown to R4B")
            continue
        # A primitive list and its `_name` extensions line up by position, so neither may lose an item.
        is_primitive = shape.kind not in (JsonKind.OBJECT, JsonKind.RESOURCE)
        keep_positions = name.startswith("_") or (is_primitive and f"_{name}" in data)
        value, element_fixes = _clean_element(value, shape, element_path, keep_positions)
        if _is_empty(value):  # the fixes inside it are moot: the whole element goes
            fixes.append(f"{element_path}: dropped empty element")
            continue
        cleaned[name] = value
        fixes.extend(element_fixes)
    return cleaned, fixes


def _clean_element(value: Any, shape: ElementShape, path: str, keep_positions: bool) -> tuple[Any, list[str]]:
    if shape.is_list:
        return _clean_list(value, shape, path, keep_positions)
    if isinstance(value, list) and value:
        if len(value) != 1:
            raise _Unusable(path, f"has {len(value)} values, R4B takes one {shape.fhir_type}")
        value, fixes = _clean_value(value[0], shape, path)
        return value, [f"{path}: unwrapped a one-item list, R4B takes a single value", *fixes]
    return _clean_value(value, shape, path)


def _clean_list(value: Any, shape: ElementShape, path: str, keep_positions: bool) -> tuple[list[Any], list[str]]:
    fixes: list[str] = []
    if not isinstance(value, list):
        value = [value]
        fixes.append(f"{path}: wrapped a single value in a list, R4B takes a list")
    items: list[Any] = []
    for index, raw_item in enumerate(value):
        item_path = f"{path}[{index}]"
        item, item_fixes = _clean_value(raw_item, shape, item_path)
        if not _is_empty(item):
            items.append(item)
            fixes.extend(item_fixes)
            continue
        if keep_positions:
            items.append(None)  # FHIR JSON's placeholder: null in one list, the value in its twin
            if raw_item is None:
                continue
        fixes.append(f"{item_path}: dropped empty element")
    return items, fixes


def _clean_value(value: Any, shape: ElementShape, path: str) -> tuple[Any, list[str]]:
    if value is None or (isinstance(value, (str, list, dict)) and not value):
        return None, []  # empty: the caller drops it
    if shape.kind is JsonKind.OBJECT:
        if not isinstance(value, dict):
            raise _Unusable(path, f"{_short_repr(value)} is not a {shape.fhir_type} object")
        assert shape.model is not None  # OBJECT shapes always carry their model
        return _clean_object(value, shape.model, path)
    if shape.kind is JsonKind.RESOURCE:
        if not isinstance(value, dict):
            raise _Unusable(path, f"{_short_repr(value)} is not a resource object")
        resource_type = value.get("resourceType")
        model = resource_model(resource_type)
        if resource_type is None:
            raise _Unusable(path, "has no resourceType")
        if model is None:
            raise _Unusable(path, f"{_short_repr(resource_type)} is not an R4B resource type")
        return _clean_object(value, model, path, is_resource=True)
    return _clean_primitive(value, shape, path)


def _clean_primitive(value: Any, shape: ElementShape, path: str) -> tuple[Any, list[str]]:
    # The engine reads these dicts as JSON, so the JSON type must be right; pydantic's lax mode would
    # accept "7" for an integer or 12345 for a dateTime and leave the dict wrong.
    if not _has_json_kind(value, shape.kind):
        raise _Unusable(path, f"{_short_repr(value)} is not a valid {shape.fhir_type}")
    if shape.fhir_type in _ZONED_TYPES and _TIME_WITHOUT_TIMEZONE.fullmatch(value):
        return f"{value}Z", [f"{path}: {value!r} has no timezone, assumed UTC"]
    return value, []


def _has_json_kind(value: Any, kind: JsonKind) -> bool:
    if isinstance(value, bool):  # bool is an int in Python, never in JSON
        return kind is JsonKind.BOOLEAN
    if kind is JsonKind.STRING:
        return isinstance(value, str)
    if kind is JsonKind.INTEGER:
        return isinstance(value, int)
    if kind is JsonKind.DECIMAL:
        return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    return False


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value)


# --- messages -------------------------------------------------------------------------------------


def _describe_validation_error(error: ValidationError, model: ModelClass, data: dict[str, Any]) -> str:
    """The first pydantic error as one short line: `code.coding[0].system 'x y' is not a valid uri`."""
    first = error.errors(include_url=False)[0]
    location = list(first["loc"])
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")
    shape, value = shape_at(model, data, location)
    message = first["msg"].removeprefix("Value error, ").split("\n")[0].strip()
    if first["input"] is None or first["type"].endswith("missing"):
        return f"{path} is required but missing"
    if choice := _ONE_OF_MANY.search(message):
        return _describe_choice_conflict(path, choice.group(1), value)
    if path and shape is not None and shape.kind not in (JsonKind.OBJECT, JsonKind.RESOURCE):
        return f"{path} {_short_repr(first['input'])} is not a valid {shape.fhir_type}"
    return f"{path}: {message}" if path else message


def _describe_choice_conflict(path: str, listed_names: str, element: Any) -> str:
    names = [name.strip(" '\"") for name in listed_names.split(",")]
    given = [name for name in names if isinstance(element, dict) and name in element]
    where = f"{path}." if path else ""
    return f"{where}{os.path.commonprefix(names)}[x] has more than one value: {', '.join(given)}"


def _unknown_type_problem(resource_type: str, resource_id: str | None) -> str:
    ref = _ref(resource_type, resource_id)
    older_version = _PRE_R4_RESOURCE_TYPES.get(resource_type)
    if older_version:
        return f"{ref}: {resource_type} is a {older_version} type; R4 orders are ServiceRequest/MedicationRequest"
    return f"{ref}: {_short_repr(resource_type)} is not an R4B resource type"


def _ref(resource_type: Any, resource_id: Any) -> str:
    return f"{resource_type or '(no resourceType)'}/{resource_id or '(no id)'}"


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _json_type_name(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


# --- cache ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StoredOk:
    """An Ok kept as compact JSON text: ~8x smaller than the dict, and parsing it hands every caller
    its own copy, so no caller can change what the next one gets."""

    resource_json: bytes | str  # orjson's bytes; str when only the stdlib could write it
    fixes: tuple[str, ...]


_Stored = _StoredOk | Skipped  # Skipped is frozen and holds only strings: stored as is


class LruCache:
    """A thread-safe, size-bounded least-recently-used map from raw-resource hash to result."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max_size
        self._entries: OrderedDict[bytes, _Stored] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    def get(self, key: bytes) -> _Stored | None:
        with self._lock:
            result = self._entries.get(key)
            if result is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return result

    def put(self, key: bytes, result: _Stored) -> None:
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_size:
                self._entries.popitem(last=False)

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._entries), self._max_size)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = 0


_results = LruCache(CACHE_MAX_ENTRIES)


# orjson also writes some non-JSON Python types; passed through, they raise and take the stdlib path.
_ORJSON_STRICT = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | (
    orjson.OPT_PASSTHROUGH_SUBCLASS)


def _cache_key(raw: Any) -> bytes | None:
    # orjson is ~5x faster than json.dumps here (issue 12); it writes NaN/Infinity as null, so any output
    # with a null (and whatever orjson cannot write: huge ints) is keyed by the stdlib instead. The two
    # spellings are tagged, so they can never share a key.
    try:
        canonical = orjson.dumps(raw, option=_ORJSON_STRICT)
        if b"null" not in canonical:
            return hashlib.blake2b(b"o" + canonical, digest_size=16).digest()
    except (orjson.JSONEncodeError, RecursionError):
        pass
    try:
        text = json.dumps(raw, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return hashlib.blake2b(b"j" + text.encode(), digest_size=16).digest()


def _stored_form(result: NormalizedResult) -> _Stored:
    if isinstance(result, Skipped):
        return result
    try:
        return _StoredOk(orjson.dumps(result.resource), result.fixes)
    except orjson.JSONEncodeError:  # e.g. an int beyond 64 bits: kept exactly by the stdlib
        return _StoredOk(json.dumps(result.resource, separators=(",", ":")), result.fixes)


def _from_stored_form(stored: _Stored) -> NormalizedResult:
    if isinstance(stored, Skipped):
        return stored
    text = stored.resource_json
    return Ok(orjson.loads(text) if isinstance(text, bytes) else json.loads(text), stored.fixes)


# --- validation by shape --------------------------------------------------------------------------
#
# pydantic validation is ~70% of a cold resource's cost, and a chart repeats a few shapes (every pain score
# has the same elements) with different values. Given that every primitive value is valid on its own, the
# R4B models' verdict depends only on the shape: which elements are present (required elements, value[x]
# choices, `extra="forbid"`, nulls in lists) and the resourceType of contained resources; fhir.resources has
# no validator that compares values. So a resource whose shape the models already accepted, and whose every
# primitive passes its own pydantic type, is valid; anything else (a new shape, one doubtful value) is
# validated by the model in full, which also words the problem.

_SHAPES_MAX = 5_000
_PRIMITIVES_MAX = 100_000
_REMEMBERED_TEXT_MAX = 200  # bounds the verdict memory at ~30 MB
_accepted_shapes: set[tuple[Any, ...]] = set()
_primitive_verdicts: dict[tuple[int, type, Any], bool] = {}
_scalar_keys: dict[tuple[int, int, Any], Any] = {}  # (shape id, type id, value) -> its shape key
_adapters: dict[int, TypeAdapter[Any]] = {}
_DOUBTFUL = object()  # a value only the whole model can judge


def _validate(model: ModelClass, cleaned: dict[str, Any]) -> None:
    """Raise ValidationError unless `cleaned` is a valid `model`."""
    shape = _shape_key(cleaned, model, is_resource=True)
    if shape is not _DOUBTFUL and shape in _accepted_shapes:
        return
    model.model_validate(cleaned)
    if shape is not _DOUBTFUL:
        if len(_accepted_shapes) >= _SHAPES_MAX:
            _accepted_shapes.clear()
        _accepted_shapes.add(shape)


def _shape_key(data: dict[str, Any], model: ModelClass, is_resource: bool = False) -> Any:
    """The shape of `data`, or _DOUBTFUL when a primitive is doubtful or cleaning would change anything
    (so a raw resource with a known shape key is, as sent, what cleaning and validation would accept)."""
    shapes = element_shapes(model)
    parts: list[Any] = [model]
    for name, value in data.items():
        if is_resource and name == "resourceType":
            parts.append(value)
            continue
        shape = shapes.get(name)
        if shape is None:
            return _DOUBTFUL  # cleaning drops it
        nested = shape.kind is JsonKind.OBJECT or shape.kind is JsonKind.RESOURCE
        if shape.is_list:
            if not isinstance(value, list) or not value:
                return _DOUBTFUL  # cleaning wraps or drops it
            # a null keeps its place only where cleaning keeps it (a primitive list and its `_x` twin)
            nulls_kept = name.startswith("_") or (not nested and f"_{name}" in data)
            items = []
            for item in value:
                if item is None and nulls_kept:
                    key = None
                elif nested or type(item) not in _JSON_SCALARS:
                    key = _value_key(item, shape)
                else:
                    key = _remembered_scalar_key(item, shape)
                if key is _DOUBTFUL:
                    return _DOUBTFUL
                items.append(key)
            parts.append((name, tuple(items)))
        else:
            key = _value_key(value, shape) if nested or type(value) not in _JSON_SCALARS else (
                _remembered_scalar_key(value, shape))
            if key is _DOUBTFUL:
                return _DOUBTFUL
            parts.append((name, key))
    return tuple(parts)


# A chart repeats its primitive values (codes, systems, units, statuses), so the whole verdict of one
# (JSON kind, timezone, own pydantic type) is one look-up, and the walk makes no call for it when known.
# Shapes live as long as the process (element_shapes is cached): their id is a stable key; the type keeps
# True, 1 and 1.0 apart (equal in Python, not the same JSON).
_JSON_SCALARS = frozenset({str, int, float, bool})


def _remembered_scalar_key(value: Any, shape: ElementShape) -> Any:
    memo_key = (id(shape), id(type(value)), value)  # ids, not objects: the GC need not track the key
    known = _scalar_keys.get(memo_key)
    if known is None:
        known = _value_key(value, shape)
        if not isinstance(value, str) or len(value) <= _REMEMBERED_TEXT_MAX:  # a narrative is judged each time
            if len(_scalar_keys) >= _PRIMITIVES_MAX:
                _scalar_keys.clear()
            _scalar_keys[memo_key] = known
    return known


def _value_key(value: Any, shape: ElementShape) -> Any:
    if value is None or (isinstance(value, (str, list, dict)) and not value):
        return _DOUBTFUL  # empty: cleaning drops it
    if shape.kind is JsonKind.OBJECT:
        if not isinstance(value, dict) or shape.model is None:
            return _DOUBTFUL
        return _shape_key(value, shape.model)
    if shape.kind is JsonKind.RESOURCE:
        model = resource_model(value.get("resourceType")) if isinstance(value, dict) else None
        return _DOUBTFUL if model is None else _shape_key(value, model, is_resource=True)
    if not _has_json_kind(value, shape.kind) or (
        shape.fhir_type in _ZONED_TYPES and _TIME_WITHOUT_TIMEZONE.fullmatch(value)
    ):
        return _DOUBTFUL  # cleaning refuses or fixes it
    return type(value) if _primitive_is_valid(shape, value) else _DOUBTFUL


def _primitive_is_valid(shape: ElementShape, value: Any) -> bool:
    if shape.value_type is None:
        return False
    key = (id(shape.value_type), type(value), value)
    verdict = _primitive_verdicts.get(key)
    if verdict is None:
        adapter = _adapters.get(id(shape.value_type))
        if adapter is None:
            adapter = _adapters[id(shape.value_type)] = TypeAdapter(shape.value_type)
        try:
            adapter.validate_python(value)
            verdict = True
        except (ValidationError, ValueError, TypeError):
            verdict = False
        if not isinstance(value, str) or len(value) <= _REMEMBERED_TEXT_MAX:  # a narrative is judged each time
            if len(_primitive_verdicts) >= _PRIMITIVES_MAX:
                _primitive_verdicts.clear()
            _primitive_verdicts[key] = verdict
    return verdict
