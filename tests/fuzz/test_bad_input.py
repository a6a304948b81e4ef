"""Named malformed requests, one per kind of mistake the fuzzers found or that the protocol suite leaves out,
each with the answer an EHR developer should get (contract §5)."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fuzz.fuzz_support import PATHS, check_answer
from tests.fuzz.strategies import VALID_BODIES

SURROGATE = "\ud800"  # json.dumps writes it as the escape \ud800: legal JSON text, not Unicode


@dataclass(frozen=True)
class BadInput:
    kind: str
    damage: Callable[[dict[str, Any]], bytes]  # a copy of a valid body of `kind` -> the bytes sent
    status: int
    path: str | None = None  # default: the endpoint of `kind`
    content_type: str = "application/json"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], bytes]:
    def damage(body: dict[str, Any]) -> bytes:
        *parents, last = path.split(".")
        node: Any = body
        for step in parents:
            node = node[int(step)] if isinstance(node, list) else node[step]
        node[int(last) if isinstance(node, list) else last] = value
        return json.dumps(body).encode()
    return damage


def _unchanged(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def _one_order_instead_of_a_bundle(body: dict[str, Any]) -> bytes:
    body["context"]["draftOrders"] = body["context"]["draftOrders"]["entry"][0]["resource"]
    return json.dumps(body).encode()


def _replace(old: bytes, new: bytes) -> Callable[[dict[str, Any]], bytes]:
    def damage(body: dict[str, Any]) -> bytes:
        encoded = json.dumps(body).encode()
        assert old in encoded
        return encoded.replace(old, new, 1)
    return damage


CASES = {
    "lone surrogate in hookInstance": BadInput("order-sign", _set("hookInstance", SURROGATE), 400),
    "lone surrogate in context.patientId": BadInput("order-select", _set("context.patientId", SURROGATE), 400),
    "lone surrogate in a feedback card id": BadInput("feedback", _set("feedback.0.card", SURROGATE), 400),
    "invalid UTF-8 byte": BadInput("order-sign", _replace(b'"order-sign"', b'"order-sign\xff"'), 400),
    "NaN, which JSON does not have": BadInput("order-sign", _replace(b'"total": 1', b'"total": NaN'), 400),
    "Infinity, which JSON does not have": BadInput("order-sign", _replace(b'"total": 1', b'"total": Infinity'), 400),
    "draft order id that is not a string": BadInput(
        "order-sign", _set("context.draftOrders.entry.0.resource.id", ["order-1"]), 400),
    "Coverage id that is not a string": BadInput(
        "order-sign", _set("prefetch.coverage.entry.0.resource.id", ["s01-coverage"]), 200),
    "draftOrders as one ServiceRequest, not a Bundle": BadInput("order-sign", _one_order_instead_of_a_bundle, 200),
    "JSON sent as text/plain": BadInput("order-sign", _unchanged, 200, content_type="text/plain"),
    # the sandbox builds {discovery URL}/{id}: a discovery URL typed with a trailing slash gives // (S-2)
    "double slash in the service URL": BadInput("order-sign", _unchanged, 200, path="/cds-services//facet-order-sign"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_malformed_request_gets_a_clear_answer(demo, no_network, case):
    body = json.loads(json.dumps(VALID_BODIES[case.kind][0]))  # a deep copy
    response = demo.post(case.path or PATHS[case.kind], data=case.damage(body), content_type=case.content_type)
    assert response.status_code == case.status, response.get_data()[:300]
    check_answer(response, case.kind, no_network)
