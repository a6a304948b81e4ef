"""Hypothesis strategies for malformed CDS Hooks traffic: random JSON, valid bodies mutated a few places at a
time, raw bytes that are not (UTF-8) JSON, odd content types and Authorization headers.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import strategies as st

from tests.support.hook_bodies import hook_body
from tests.support.jwt_factory import b64url
from tests.support.scenarios import all_scenarios

Path = tuple[Any, ...]  # keys and indexes from the body's root

# Names the service looks for, so that random objects reach past the first check now and then.
KNOWN_KEYS = ("hook", "hookInstance", "context", "prefetch", "fhirServer", "fhirAuthorization", "access_token",
              "userId", "patientId", "draftOrders", "selections", "resourceType", "entry", "resource", "id",
              "feedback", "card", "outcome", "outcomeTimestamp", "acceptedSuggestions", "overrideReason",
              "extension", "code", "coding", "system", "insurance", "reference", "bodySite", "status")
CONTENT_TYPES = (None, "application/json", "application/fhir+json", "application/json; charset=utf-16",
                 "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/xml", "")

# Unpaired UTF-16 surrogates: legal in JSON text as \ud800 escapes, yet not Unicode.
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"])
odd_text = st.lists(
    st.one_of(st.characters(codec=None, exclude_categories=["Cs"]), surrogates,
              st.sampled_from(["\x00", "\u202e", "\ufeff", "\U0001f9b4", "\\", '"', "%2e", "\r\n", "../"])),
    max_size=30,
).map("".join)
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([10**400, -(10**400), 2**63]),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30), odd_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12)), children, max_size=5),
    ),
    max_leaves=25,
)


def _valid_hook_bodies(hook: str) -> list[dict[str, Any]]:
    """Prefetched bodies from a spread of scenarios (one region, decision and revision of each kind)."""
    picked = all_scenarios()[:: max(1, len(all_scenarios()) // 8)]
    return [hook_body(s, hook) for s in picked]


def _valid_feedback_bodies() -> list[dict[str, Any]]:
    card = "9b0c4f7e-3c55-4c3f-8a51-1f6f3d6b0a11"
    return [
        {"feedback": [{"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": "s-1"}],
                       "outcomeTimestamp": "2026-11-20T10:05:31Z"}]},
        {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:05:31Z",
                       "overrideReason": {"reason": {"code": "patient-preference", "system": "http://x.test/cs"},
                                          "userComment": "asked twice"}}]},
    ]


VALID_BODIES: dict[str, list[dict[str, Any]]] = {
    hook: _valid_hook_bodies(hook) for hook in ("order-select", "order-sign", "patient-view")
} | {"feedback": _valid_feedback_bodies()}


# ------------------------------------------------------------------------------------ mutating a body


def _paths(value: Any) -> Iterator[Path]:
    """Every place in a JSON value, parents before children (the root is ()); iterative, for deep values."""
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        yield path
        if isinstance(node, dict):
            stack.extend(((*path, key), item) for key, item in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(node))))


def _get(body: Any, path: Path) -> Any:
    for step in path:
        body = body[step]
    return body


def _set(body: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    _get(body, path[:-1])[path[-1]] = value
    return body


def _drop(body: Any, path: Path) -> Any:
    if not path:
        return {}
    del _get(body, path[:-1])[path[-1]]
    return body


def _nest(value: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        value = [value] if as_list else {"x": value}
    return value


def _as_single(value: Any) -> Any:
    """A single object where an array belongs (and the reverse): what sloppy clients send."""
    if isinstance(value, list):
        return value[0] if value else {}
    return [value]


Mutation = Callable[[st.DrawFn, Any, Path], Any]
MUTATIONS: dict[str, Mutation] = {
    "drop": lambda draw, body, path: _drop(body, path),
    "random value": lambda draw, body, path: _set(body, path, draw(json_values)),
    "single for array": lambda draw, body, path: _set(body, path, _as_single(_get(body, path))),
    "stringified": lambda draw, body, path: _set(body, path, json.dumps(_get(body, path))),
    "unicode": lambda draw, body, path: _set(body, path, draw(odd_text)),
    "garbled string": lambda draw, body, path: _set(
        body, path, str(_get(body, path))[: draw(st.integers(0, 8))] + draw(odd_text)),
    "huge string": lambda draw, body, path: _set(
        body, path, draw(st.sampled_from("x9é\u202e")) * draw(st.integers(10_000, 1_200_000))),
    "deep nesting": lambda draw, body, path: _set(
        body, path, _nest(_get(body, path), draw(st.integers(20, 400)), draw(st.booleans()))),
    "number": lambda draw, body, path: _set(
        body, path, draw(st.sampled_from([0, -1, 10**400, 1e308, -0.0, 2**64, 3.5]))),
}


@st.composite
def mutated_bodies(draw: st.DrawFn, kind: str) -> Any:
    """A valid body of `kind` (a hook or "feedback") with one to three things broken."""
    body = copy.deepcopy(draw(st.sampled_from(VALID_BODIES[kind])))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(body))
        # Half the time stay near the top, where the request structure is, rather than deep in FHIR resources.
        shallow = [p for p in paths if len(p) <= 3]
        path = draw(st.sampled_from(shallow if shallow and draw(st.booleans()) else paths))
        body = MUTATIONS[draw(st.sampled_from(sorted(MUTATIONS)))](draw, body, path)
    return body


# ------------------------------------------------------------------------------------ raw bytes


def _encode(value: Any, how: str) -> bytes:
    if how == "ascii":
        return json.dumps(value).encode()
    if how == "utf-8":  # surrogates, if any, written out as the invalid bytes Python would refuse to decode
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if how == "utf-8 with BOM":
        return b"\xef\xbb\xbf" + json.dumps(value).encode()
    return json.dumps(value).encode(how)  # utf-16 / utf-32: json.loads(bytes) detects them


ENCODINGS = ("ascii", "utf-8", "utf-8 with BOM", "utf-16", "utf-32")
INVALID_UTF8 = (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\x80")
JSON_ODDITIES = (b"NaN", b"Infinity", b"-Infinity", b"1e999999", b"[" * 100_000, b"{" * 10_000,
                 b'{"hook": "order-sign", "hook": "order-select"}', b"", b" ", b"null", b"[]", b'"order-sign"',
                 b'{"hook":"order-sign"}{"hook":"order-sign"}', b"\x00", b"{'hook': 'order-sign'}")


@st.composite
def raw_bodies(draw: st.DrawFn, kind: str) -> bytes:
    """Bytes that are broken JSON, not UTF-8, oddly encoded, or a valid body damaged at the byte level."""
    choice = draw(st.sampled_from(["binary", "oddity", "encoded", "byte damage", "truncated"]))
    if choice == "binary":
        return draw(st.binary(max_size=300))
    if choice == "oddity":
        return draw(st.sampled_from(JSON_ODDITIES))
    body = draw(st.one_of(mutated_bodies(kind), st.sampled_from(VALID_BODIES[kind])))
    encoded = _encode(body, draw(st.sampled_from(ENCODINGS)))
    if choice == "encoded":
        return encoded
    if choice == "truncated":
        return encoded[: draw(st.integers(0, len(encoded) - 1))]
    at = draw(st.integers(0, len(encoded)))
    return encoded[:at] + draw(st.sampled_from(INVALID_UTF8)) + encoded[at:]


# ------------------------------------------------------------------------------------ Authorization


def _segment(value: Any) -> str:
    return b64url(value if isinstance(value, bytes) else json.dumps(value).encode())


@st.composite
def authorization_headers(draw: st.DrawFn, spent_token: str) -> str:
    """Authorization values no service may accept. `spent_token` was valid once and has been used already."""
    header, payload, signature = spent_token.split(".")
    choice = draw(st.sampled_from(["text", "bearer text", "random jws", "spliced", "flipped", "replayed"]))
    if choice == "text":
        return draw(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200))
    if choice == "bearer text":
        scheme = draw(st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Bearer\t", "Bearer  "]))
        return f"{scheme} {draw(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E)))}"
    if choice == "random jws":  # well-formed compact JWS around random JSON
        return f"Bearer {_segment(draw(json_values))}.{_segment(draw(json_values))}.{_segment(draw(st.binary()))}"
    if choice == "spliced":  # segments from the real token mixed with random ones
        parts = [header, payload, signature, _segment(draw(json_values)), ""]
        count = draw(st.integers(1, 5))
        return "Bearer " + ".".join(draw(st.sampled_from(parts)) for _ in range(count))
    if choice == "flipped":  # one character of the real token changed
        token = f"{header}.{payload}.{signature}"
        at = draw(st.integers(0, len(token) - 1))
        replacement = draw(st.sampled_from("AQgw_-.=+/ é"))
        return f"Bearer {token[:at]}{replacement}{token[at + 1:]}"
    return f"Bearer {spent_token}"
