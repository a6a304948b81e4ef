"""cds_service/api/openapi.json, the OpenAPI document the project ships, describes the API that is served.

It must be valid JSON and OpenAPI 3 in shape (every $ref resolves, every path parameter declared), and it
must list every route the Flask app registers, with its methods, and nothing the app does not serve.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.fuzz.fuzz_support import openapi_document

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}  # Flask adds them to every rule


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


@pytest.fixture(scope="module")
def served(demo) -> dict[str, set[str]]:
    """OpenAPI path template -> methods, for every route of the app (Flask's own static route aside)."""
    app: Flask = demo.application
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        template = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes.setdefault(template, set()).update(rule.methods - AUTOMATIC_METHODS)
    return routes


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get("$ref"), str):
            yield value["$ref"]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def test_it_is_an_openapi_3_document(document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] and document["info"]["version"]
    operation_ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(operation_ids) == len(set(operation_ids))
    for path, method, operation in _operations(document):
        assert operation.get("responses"), f"{method.upper()} {path} documents no response"


def test_every_reference_resolves(document):
    for ref in set(_refs(document)):
        assert ref.startswith("#/"), ref
        node: Any = document
        for step in ref[2:].split("/"):
            assert isinstance(node, dict) and step in node, f"{ref} does not resolve"
            node = node[step]


def test_every_path_parameter_is_declared(document):
    for path, method, operation in _operations(document):
        declared = {p["name"] for p in document["paths"][path].get("parameters", []) + operation.get("parameters", [])
                    for p in [_resolve(document, p)] if p["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), f"{method.upper()} {path}"


def test_every_served_route_is_documented(document, served):
    documented = {path: {m.upper() for m in item if m in HTTP_METHODS} for path, item in document["paths"].items()}
    missing = {path: sorted(methods - documented.get(path, set())) for path, methods in served.items()
               if methods - documented.get(path, set())}
    assert missing == {}, "served but not in openapi.json"


def test_nothing_is_documented_that_is_not_served(document, served):
    extra = {f"{method.upper()} {path}" for path, method, _ in _operations(document)
             if method.upper() not in AUTOMATIC_METHODS and method.upper() not in served.get(path, set())}
    assert extra == set(), "in openapi.json but not served"


def _resolve(document: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in value:
        node: Any = document
        for step in value["$ref"][2:].split("/"):
            node = node[step]
        value = node
    return value
