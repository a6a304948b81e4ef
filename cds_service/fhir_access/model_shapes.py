"""The shape of each FHIR R4B element, read from the fhir.resources pydantic models.

The normaliser needs to know, for every JSON name, whether the element repeats, which JSON type it
takes and which model describes its children. Reading that from the models' field annotations keeps
it in step with fhir.resources instead of with a hand-kept list.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import types
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase, FhirElementOrResourceBase

ModelClass = type[FHIRAbstractModel]

# Fields fhir.resources adds to every model that are not FHIR elements.
_LIBRARY_FIELDS = frozenset({"fhir_comments"})

# Abstract bases: a resource with one of these types cannot exist.
_ABSTRACT_RESOURCES = frozenset({"Resource", "DomainResource"})


class JsonKind(enum.Enum):
    """The JSON type an element takes in FHIR JSON."""

    STRING = "string"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    DECIMAL = "decimal"
    OBJECT = "object"  # a complex type or backbone element
    RESOURCE = "resource"  # any resource, typed by its own resourceType (contained, Bundle.entry.resource)


@dataclass(frozen=True)
class ElementShape:
    is_list: bool
    kind: JsonKind
    fhir_type: str  # "dateTime", "code", "CodeableConcept", ...
    model: ModelClass | None = None  # the model of an OBJECT's children
    # a primitive's own pydantic type (Optional/List stripped), to validate one value alone; None when
    # the field carries constraints of its own (then only the whole model can judge it)
    value_type: Any = None


# Python types behind FHIR primitives; every one of them is a string in JSON except these.
_NON_STRING_PRIMITIVES = {bool: JsonKind.BOOLEAN, int: JsonKind.INTEGER, decimal.Decimal: JsonKind.DECIMAL}
_STRING_PRIMITIVES = (str, datetime.date, datetime.datetime, datetime.time, bytes, uuid.UUID)

# fhir_core marker class names that are not FHIR type names.
_MARKER_RENAMES = {"UuidVersion": "Uuid"}


def resource_model(resource_type: object) -> ModelClass | None:
    """The R4B model of a concrete resource type, or None if R4B has no such resource."""
    if not isinstance(resource_type, str) or resource_type in _ABSTRACT_RESOURCES:
        return None
    try:
        model = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    return model if model.has_resource_base() else None


@cache
def element_shapes(model: ModelClass) -> dict[str, ElementShape]:
    """Shapes of a model's elements keyed by JSON name, including `_x` primitive extensions."""
    shapes = {}
    for name, field in model.model_fields.items():
        if name in _LIBRARY_FIELDS:
            continue
        shape = _shape_of(field.annotation)
        if field.metadata and shape.value_type is not None:
            shape = dataclasses.replace(shape, value_type=None)
        shapes[field.alias or name] = shape
    return shapes


def shape_at(model: ModelClass, data: Any, location: Sequence[str | int]) -> tuple[ElementShape | None, Any]:
    """The shape and value at a location such as ("contained", 0, "birthDate"); (None, None) if there is none."""
    shape: ElementShape | None = None
    value = data
    for part in location:
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and 0 <= part < len(value) else None
            continue
        if shape is not None:
            child_model = (
                resource_model(value.get("resourceType") if isinstance(value, dict) else None)
                if shape.kind is JsonKind.RESOURCE
                else shape.model
            )
            if child_model is None:
                return None, None
            model = child_model
        shape = element_shapes(model).get(part)
        value = value.get(part) if isinstance(value, dict) else None
        if shape is None:
            return None, None
    return shape, value


def _shape_of(annotation: object) -> ElementShape:
    inner, is_list = _strip_optional_and_list(annotation)
    value_type = inner
    inner, metadata = _strip_annotated(inner)
    if _is_union(inner):
        # url is Union[AnyUrl, str] and Resource.id Union[Annotated[str, Id()], Annotated[str, String()]]:
        # a string in JSON either way, so the str option stands for the union.
        inner, option_metadata = next(
            (base, meta) for base, meta in map(_strip_annotated, typing.get_args(inner)) if base is str
        )
        metadata = metadata or option_metadata
    if isinstance(inner, type) and issubclass(inner, FhirBase):
        if issubclass(inner, FhirElementOrResourceBase):
            return ElementShape(is_list, JsonKind.RESOURCE, "Resource")
        model = inner.get_model_klass()
        return ElementShape(is_list, JsonKind.OBJECT, model.__name__, model)
    return ElementShape(is_list, _primitive_kind(inner), _primitive_name(inner, metadata), value_type=value_type)


def _strip_optional_and_list(annotation: object) -> tuple[object, bool]:
    """Unwrap Optional[...] / X | None and List[...] (in any nesting) to the element type."""
    is_list = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is list:
            is_list = True
            (annotation,) = typing.get_args(annotation)
        elif _is_union(annotation):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation, is_list
            annotation = options[0]
        else:
            return annotation, is_list


def _strip_annotated(annotation: object) -> tuple[object, tuple[object, ...]]:
    if typing.get_origin(annotation) is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return base, tuple(metadata)
    return annotation, ()


def _is_union(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _primitive_kind(python_type: object) -> JsonKind:
    if python_type in _NON_STRING_PRIMITIVES:
        return _NON_STRING_PRIMITIVES[python_type]
    if isinstance(python_type, type) and issubclass(python_type, _STRING_PRIMITIVES):
        return JsonKind.STRING
    raise TypeError(f"no JSON kind known for {python_type!r}")  # a new fhir.resources type: fail loudly


def _primitive_name(python_type: object, metadata: tuple[object, ...]) -> str:
    """FHIR primitive name from the fhir_core marker (DateTime() -> "dateTime"); bool has none."""
    if python_type is bool or not metadata:
        return "boolean" if python_type is bool else "string"
    marker = metadata[-1]  # the FHIR marker comes last: base64Binary is (EncodedBytes, Base64Binary)
    name = marker.__name__ if isinstance(marker, type) else type(marker).__name__
    name = _MARKER_RENAMES.get(name, name)
    return name[0].lower() + name[1:]
