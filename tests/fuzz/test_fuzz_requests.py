"""Property fuzzing of the HTTP API with CDS_AUTH=off, so that every body reaches the parser and the engine.

Whatever arrives — random JSON, a valid request broken in one to three places, bytes that are not UTF-8 JSON,
any content type, any path and method — the answer is never a 5xx; every 4xx is an OperationOutcome saying
what is wrong; every 200 is a well-formed CDS Hooks response; and nothing touches the network.
"""
from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import HOOKS, KINDS, check_answer, fuzz, openapi_document, post
from tests.fuzz.strategies import CONTENT_TYPES, json_values, mutated_bodies, raw_bodies

kinds = pytest.mark.parametrize("kind", KINDS)


@kinds
@fuzz(max_examples=300)
@given(value=json_values, content_type=st.sampled_from(CONTENT_TYPES))
def test_random_json_is_answered_cleanly(demo, no_network, kind, value, content_type):
    check_answer(post(demo, kind, json.dumps(value).encode(), content_type), kind, no_network)


@kinds
@fuzz(max_examples=250)
@given(data=st.data())
def test_broken_valid_request_is_answered_cleanly(demo, no_network, kind, data):
    body = data.draw(mutated_bodies(kind), label="body")
    check_answer(post(demo, kind, json.dumps(body).encode(), "application/json"), kind, no_network)


@kinds
@fuzz(max_examples=250)
@given(data=st.data(), content_type=st.sampled_from(CONTENT_TYPES))
def test_bytes_that_are_not_utf8_json_are_answered_cleanly(demo, no_network, kind, data, content_type):
    check_answer(post(demo, kind, data.draw(raw_bodies(kind), label="bytes"), content_type), kind, no_network)


# Percent-encoded, as a client would send them (a raw "?" or "#" would not be part of the path).
SERVICE_IDS = tuple(f"facet-{hook}" for hook in HOOKS)
path_segments = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20).map(
    lambda text: quote(text, safe=""))


@st.composite
def documented_paths(draw: st.DrawFn) -> str:
    """A path of the OpenAPI document with its {parameters} filled in, or one of those paths mangled."""
    template = draw(st.sampled_from(sorted(openapi_document()["paths"])))
    path = re.sub(r"{[^}]+}", lambda _: draw(st.one_of(st.sampled_from(SERVICE_IDS), path_segments)), template)
    mangle = draw(st.sampled_from(["none", "trailing slash", "double slash", "extra segment"]))
    if mangle == "trailing slash":
        return f"{path}/"
    if mangle == "double slash":
        first, _, rest = path[1:].partition("/")
        return f"/{first}//{rest}"
    if mangle == "extra segment":
        return f"{path}/{draw(path_segments)}"
    return path


@fuzz(max_examples=300)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
    path=documented_paths(),
    query=st.dictionaries(st.sampled_from(["url", "version", "limit", "_count"]), path_segments, max_size=3),
)
def test_any_method_on_any_documented_path_is_answered_cleanly(demo, no_network, method, path, query):
    check_answer(demo.open(path, method=method, query_string=query), None, no_network)
