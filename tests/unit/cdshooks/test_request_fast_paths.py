"""The fast paths of request parsing (issue 12: orjson, one level-by-level depth walk, NUL found via orjson's
output) refuse and accept exactly what the plain paths do."""
from __future__ import annotations

import json

import pytest

from cds_service.cdshooks.request import BadRequest, _has_nul, parse_json


@pytest.mark.parametrize(("depth", "refused"), [(3, False), (4, True)])
def test_nesting_is_limited_at_exactly_the_limit(depth, refused):
    body = ("[" * depth + "]" * depth).encode()
    if refused:
        with pytest.raises(BadRequest, match="nested deeper than 3 levels"):
            parse_json(body, 3)
    else:
        assert parse_json(body, 3) is not None


def test_deep_nesting_inside_objects_is_found_too():
    body = json.dumps({"a": [{"b": {"c": [1]}}], "z": "x"}).encode()  # 5 levels of containers
    assert parse_json(body, 5) == json.loads(body)
    with pytest.raises(BadRequest):
        parse_json(body, 4)


@pytest.mark.parametrize(("value", "has_nul"), [
    ({"a": ["x\x00y"]}, True),
    ({"k\x00": 1}, True),  # in a key
    ({"a": "\\u0000"}, False),  # a backslash and the letters u0000: no NUL, though orjson's output looks alike
    ({"a": [1, 2.5, None, True, {"b": "plain"}]}, False),
    ({"big": 2**80, "s": "x\x00"}, True),  # orjson cannot write a 2**80 int: the walk decides
    ({"big": 2**80}, False),
])
def test_nul_is_found_anywhere_and_only_where_it_is(value, has_nul):
    assert _has_nul(value) is has_nul


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": "\\ud800"}', b"\xff{}", b'{"a": 1', b"\xef\xbb\xbf{}"])
def test_what_orjson_refuses_is_refused_with_the_plain_parser_message(body):
    with pytest.raises(BadRequest) as refused:
        parse_json(body, 10)
    assert "JSON" in str(refused.value) or "surrogate" in str(refused.value)
