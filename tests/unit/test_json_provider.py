"""Responses written by orjson say exactly what Flask's own provider would have said."""
from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from cds_service.api.json_provider import OrjsonProvider


@dataclasses.dataclass
class _Row:
    name: str
    count: int


VALUES = [
    {"cards": [{"summary": "Covered — CP.MP.171", "indicator": "info", "uuid": "u-1"}], "systemActions": []},
    {"z": 1, "a": {"y": [1.5, None, True, "é\u2028\u0000"], "b": 1e-7}},
    {"date": datetime.date(2026, 1, 2), "at": datetime.datetime(2026, 1, 2, 3, 4), "row": _Row("x", 2),
     "id": uuid.UUID(int=5), "amount": decimal.Decimal("1.50"), "big": 2**70},
]


@pytest.mark.parametrize("value", VALUES)
def test_the_document_is_the_one_flask_writes(value: object) -> None:
    app = Flask(__name__)
    ours, flasks = OrjsonProvider(app).dumps(value, separators=(",", ":")), DefaultJSONProvider(app).dumps(
        value, separators=(",", ":"))
    assert json.loads(ours) == json.loads(flasks)
    assert list(json.loads(ours)) == sorted(json.loads(ours))  # keys sorted, as Flask sorts them


def test_formatting_arguments_and_what_orjson_cannot_write_go_to_flask() -> None:
    app = Flask(__name__)
    assert OrjsonProvider(app).dumps({"b": 1, "a": 2}, indent=2) == '{\n  "a": 2,\n  "b": 1\n}'
    assert OrjsonProvider(app).dumps({"n": 2**70}) == '{"n": 1180591620717411303424}'
    with pytest.raises(TypeError):
        OrjsonProvider(app).dumps({"x": object()})
