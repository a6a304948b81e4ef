"""The fast paths of request parsing (issue 12: orjson, one level-by-level depth walk, NUL found via orjson's
output) refuse and accept exactly what the plain paths do."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cdshooks.request import (
    BadRequest,
    _deeper_than,
    _has_nul,
    _text_deeper_than,
    parse_hook_request,
    parse_json,
)


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


TRICKY_STRINGS = ["[[[[", "}}]]", 'a\\"[', "\\", '\\\\"{', '"', "\u005b\u007b", "é]\n\t[", "\\\\"]


@pytest.mark.parametrize("text", TRICKY_STRINGS)
@pytest.mark.parametrize("spelling", [
    lambda v: json.dumps(v).encode(), lambda v: json.dumps(v, indent=2, ensure_ascii=False).encode()])
def test_brackets_quotes_and_backslashes_inside_strings_do_not_count_as_nesting(text, spelling):
    value = {text: [{"k": text, "deep": [[text]]}, text], "after": {"x": [text]}}  # 5 levels
    body = spelling(value)
    for limit in range(1, 8):
        assert _text_deeper_than(body, limit) == _deeper_than(value, limit) == (limit < 5), (text, limit)


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


@pytest.mark.parametrize(("text", "has_nul"), [
    (r'"x\u0000y"', True), (r'{"k\u0000": 1}', True), (r'"\\u0000"', False), (r'"\\\u0000"', True),
    ('"plain"', False)])
def test_a_nul_found_in_the_body_text_refuses_exactly_as_the_walk_does(text, has_nul):
    body = ('{"hook": "order-sign", "hookInstance": "0d6e5c4b-2a1f-4e7a-9b3c-1d2e3f4a5b6c", "context": '
            '{"userId": "Practitioner/1", "patientId": "p1", "draftOrders": {"resourceType": "Bundle"}}, '
            '"extension": {"note": ' + text + "}}").encode()
    data = parse_json(body, 10)
    for with_text in (body, None):
        if has_nul:
            with pytest.raises(BadRequest, match="NUL"):
                parse_hook_request(data, body=with_text)
        else:
            assert parse_hook_request(data, body=with_text).patient_id == "p1"


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": "\\ud800"}', b"\xff{}", b'{"a": 1', b"\xef\xbb\xbf{}"])
def test_what_orjson_refuses_is_refused_with_the_plain_parser_message(body):
    with pytest.raises(BadRequest) as refused:
        parse_json(body, 10)
    assert "JSON" in str(refused.value) or "surrogate" in str(refused.value)


_BRACKETY = st.text(alphabet='[]{}"\\ab', max_size=4)  # strings made of what the text check works on
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _BRACKETY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_BRACKETY, inner, max_size=4),
    max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(value=_JSON, limit=st.integers(min_value=0, max_value=8), indent=st.sampled_from([None, 1]))
def test_the_text_depth_check_agrees_with_the_walk_on_any_json(value, limit, indent):
    body = json.dumps(value, indent=indent).encode()  # adjacent, empty and bracket-holding strings included
    assert _text_deeper_than(body, limit) == _deeper_than(value, limit)


ODD_ENTRIES = [{"resource": {"resourceType": "Condition", "id": "ok-1"}},
               {"resource": {"resourceType": "Condition", "id": "a\nb"}},  # two good ids if split on newlines
               {"resource": {"resourceType": "Condition", "id": "x" * 65}},
               {"resource": {"resourceType": "Condition", "id": 7}},
               {"resource": {"resourceType": "Condition", "id": ""}},
               {"resource": {"resourceType": "Condition"}},
               {"resource": "not an object"}, {"fullUrl": "urn:uuid:1"}, "not an entry", [],
               {"resource": {"resourceType": "Condition", "id": "ok-2"}}]


def _prefetch_read_entry_by_entry(entries):
    """What the prefetch check keeps and names, entry by entry (the reference the one-regex path must equal)."""
    from cds_service.cdshooks.request import FHIR_ID
    kept, named = [], []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and "id" in resource and not (
                isinstance(resource["id"], str) and FHIR_ID.fullmatch(resource["id"])):
            named.append(("Condition", f"prefetch 'conditions' entry {i}: id is not a FHIR id"))
        else:
            kept.append(entry)
    return kept, named


@pytest.mark.parametrize("odd", range(len(ODD_ENTRIES)))
def test_prefetch_ids_checked_in_one_pass_keep_and_name_what_the_entry_by_entry_check_does(odd):
    from cds_service.cdshooks.request import _without_bad_ids
    for entries in ([ODD_ENTRIES[0], ODD_ENTRIES[odd], ODD_ENTRIES[-1]], [ODD_ENTRIES[odd]], ODD_ENTRIES):
        cleaned, skipped = _without_bad_ids({"conditions": {"resourceType": "Bundle", "entry": entries}})
        kept, named = _prefetch_read_entry_by_entry(entries)
        assert cleaned["conditions"]["entry"] == kept
        assert skipped == named
