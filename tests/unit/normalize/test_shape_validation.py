"""Validation by shape (issue 12): once the R4B models accepted a shape, a resource of that shape is judged
from its primitive values alone. Whatever a value is changed to, the verdict and the problem named are the
same as the models' own, with and without the shape learned first."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from cds_service.fhir_access import normalize as normalize_module
from cds_service.fhir_access.normalize import clear_cache, normalize_resource
from tests.unit.normalize.test_normalize import R4_EXAMPLES, RESOURCES

ODD_VALUES = ("", " padded", "x y", "2024-13-45", "2024-01-15T10:00:00", "\n", "not-a-uri with space", "a" * 70,
              -1, 0, 1.5, 10**20, True, "true", "7", {"x": 1}, ["a"])


def _leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "resourceType":
                yield from _leaf_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaf_paths(value, (*path, i))
    else:
        yield path


def _with(raw: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def _verdict(raw: dict[str, Any], learned_first: dict[str, Any] | None) -> Any:
    clear_cache()
    if learned_first is not None:
        normalize_resource(learned_first)
    return normalize_resource(raw)


@pytest.mark.parametrize("resource_type", sorted(R4_EXAMPLES))
def test_a_learned_shape_never_lets_a_bad_value_through_nor_changes_a_problem(resource_type):
    example = R4_EXAMPLES[resource_type]
    assert type(_verdict(example, None)).__name__ == "Ok"
    differences = []
    for path in _leaf_paths(example):
        for value in ODD_VALUES:
            changed = _with(example, path, value)
            plain, learned = _verdict(changed, None), _verdict(changed, example)
            if plain != learned:
                differences.append((path, value, plain, learned))
    clear_cache()
    assert differences == []


def test_a_second_resource_of_a_learned_shape_is_ok_with_its_own_values():
    first = R4_EXAMPLES["Observation"]
    second = _with(_with(first, ("id",), "obs-2"), ("effectiveDateTime",), "2025-02-03T04:05:06Z")
    clear_cache()
    assert type(normalize_resource(first)).__name__ == "Ok"
    result = normalize_resource(second)
    clear_cache()
    assert type(result).__name__ == "Ok" and result.resource["effectiveDateTime"] == "2025-02-03T04:05:06Z"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RESOURCES)
def test_a_resource_judged_by_its_learned_shape_gets_exactly_the_models_verdict(raw):
    """The first call cleans and validates in full (and learns the shape); the second, with the results
    forgotten but the shape kept, may take the shape path: same Ok (same dict, same fixes) or same Skipped."""
    clear_cache()
    full = normalize_resource(raw)
    normalize_module._results.clear()
    by_shape = normalize_resource(raw)
    clear_cache()
    assert by_shape == full


def test_a_positional_null_keeps_its_place_on_the_shape_path():
    patient = {"resourceType": "Patient", "id": "p", "name": [{"given": ["Ann", None], "_given": [None, {
        "extension": [{"url": "http://example.org/x", "valueString": "y"}]}]}]}
    clear_cache()
    first = normalize_resource(patient)
    normalize_module._results.clear()
    second = normalize_resource(patient)
    clear_cache()
    assert type(first).__name__ == "Ok" and first == second and second.resource["name"][0]["given"] == ["Ann", None]


def test_a_whole_chart_judged_by_learned_shapes_is_what_full_validation_gives():
    from bench.padding import padded_record
    from tests.support.scenarios import all_scenarios, record_resources

    raws = padded_record("shapes", 400).resources + [r for s in all_scenarios() for r in record_resources(s)]
    clear_cache()
    full = [normalize_resource(raw) for raw in raws]
    normalize_module._results.clear()
    by_shape = [normalize_resource(raw) for raw in raws]
    clear_cache()
    assert by_shape == full


@pytest.mark.parametrize("first, then", [(1, True), (True, 1), (1, 1.0), (1.0, True), (0, False), ("1", 1)])
def test_a_remembered_primitive_verdict_keeps_equal_python_values_of_other_json_types_apart(first, then):
    # 1, 1.0 and True are one dict key in Python but not the same JSON: a verdict remembered for one value
    # (the cache is not cleared in between) must not decide another.
    def observation(value: Any, n: int) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": f"o{n}", "status": "final", "code": {"text": "x"},
                "valueQuantity": {"value": value, "unit": "%"}}

    clear_cache()
    normalize_resource(observation(first, 1))
    remembered = normalize_resource(observation(then, 2))
    clear_cache()
    assert remembered == normalize_resource(observation(then, 2))
