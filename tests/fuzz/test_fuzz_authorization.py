"""Property fuzzing with CDS_AUTH=on: no Authorization value but a fresh, valid client JWT gets past the door.

Random header text, random well-formed JWS, the segments of a real token spliced or altered one character at
a time, and the real token replayed: every one is answered with the same bare 401 as a missing header, for
any body, on every hook and feedback endpoint.
"""
from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import KINDS, check_answer, fuzz, post, token_for
from tests.fuzz.strategies import VALID_BODIES, authorization_headers, json_values
from tests.support.jwt_factory import KeyPair


@pytest.fixture(scope="module")
def spent_tokens(secured: FlaskClient, signing_key: KeyPair) -> dict[str, str]:
    """Per endpoint, a token that was valid and has been used once (so any faithful copy is a replay)."""
    spent = {}
    for kind in KINDS:
        token = token_for(signing_key, kind)
        accepted = post(secured, kind, json.dumps(VALID_BODIES[kind][0]).encode(), "application/json",
                        {"Authorization": f"Bearer {token}"})
        assert accepted.status_code == 200, accepted.get_data()
        spent[kind] = token
    return spent


@pytest.fixture(scope="module")
def bare_401(secured: FlaskClient) -> dict:
    response = post(secured, "order-sign", json.dumps(VALID_BODIES["order-sign"][0]).encode(), "application/json")
    assert response.status_code == 401
    return response.get_json()


@pytest.mark.parametrize("kind", KINDS)
@fuzz(max_examples=150)
@given(data=st.data())
def test_no_forged_or_replayed_authorization_gets_in(secured, no_network, spent_tokens, bare_401, kind, data):
    authorization = data.draw(authorization_headers(spent_tokens[kind]), label="Authorization")
    body = data.draw(st.one_of(st.sampled_from(VALID_BODIES[kind]), json_values), label="body")
    response = post(secured, kind, json.dumps(body).encode(), "application/json", {"Authorization": authorization})
    check_answer(response, kind, no_network)
    assert response.status_code == 401
    assert response.get_json() == bare_401
