"""Reading a CDS Hooks request body: strict about what the spec requires, tolerant about everything else."""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeGuard

import orjson

from cds_service.errors import InvalidRequest
from cds_service.evaluation.procedures import facet_code_of
from cds_service.evaluation.record import reference_id
from cds_service.fhir_access.normalize import Ok, Skipped, normalize_bundle_entries, normalize_resource

REQUIRED_CONTEXT = {
    "order-select": ("userId", "patientId", "selections", "draftOrders"),
    "order-sign": ("userId", "patientId", "draftOrders"),
    "patient-view": ("userId", "patientId"),
}


class BadRequest(InvalidRequest, ValueError):
    """The request cannot be used; the message says what is wrong (HTTP 400)."""


@dataclass(frozen=True)
class DraftOrders:
    """The draft orders of one call, validated once (service and CLI alike)."""

    valid: tuple[dict[str, Any], ...]  # cleaned up and R4B-valid: what the engine evaluates
    as_sent: Mapping[str, dict[str, Any]]  # order id -> the order as the client sent it (echoed in systemActions)
    skipped: tuple[Skipped, ...]  # orders that are not valid FHIR: named in the answer, never evaluated
    unreadable_facet_orders: tuple[Skipped, ...] = ()  # those of them with a facet code: each gets a card


# What R4B requires of a ServiceRequest and no criterion reads: a draft may lack it while it is being written
# (CDS Hooks: read draft orders defensively). Stood in only to validate the rest, never evaluated or echoed.
_DRAFT_STAND_INS: Mapping[str, Any] = MappingProxyType(
    {"status": "draft", "intent": "order", "subject": {"reference": "Patient/draft-order-subject"}})


def validate_draft_orders(raw_orders: list[dict[str, Any]]) -> DraftOrders:
    valid: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    unreadable: list[Skipped] = []
    for raw in raw_orders:
        result = normalize_resource(raw)
        if isinstance(result, Skipped):
            result = _without_what_only_fhir_needs(raw) or result
        if isinstance(result, Skipped):
            skipped.append(result)
            if facet_code_of(raw) is not None:
                unreadable.append(result)
        else:
            valid.append(result.resource)
    valid_ids = {o.get("id") for o in valid}
    as_sent = {o["id"]: o for o in raw_orders if isinstance(o.get("id"), str) and o["id"] in valid_ids}
    return DraftOrders(tuple(valid), MappingProxyType(as_sent), tuple(skipped), tuple(unreadable))


def _without_what_only_fhir_needs(raw: dict[str, Any]) -> Ok | None:
    """A draft ServiceRequest that is valid once its absent status/intent/subject are stood in, without them."""
    if raw.get("resourceType") != "ServiceRequest":
        return None
    absent = {name: value for name, value in _DRAFT_STAND_INS.items() if raw.get(name) in (None, "", {}, [])}
    if not absent:
        return None
    retried = normalize_resource({**raw, **absent})
    if not isinstance(retried, Ok):
        return None
    return Ok({k: v for k, v in retried.resource.items() if k not in absent}, retried.fixes)


@dataclass(frozen=True)
class HookRequest:
    """One hook call as read ONCE at the boundary: nothing downstream goes back to the body (issue 9)."""

    hook: str
    hook_instance: str
    patient_id: str  # a FHIR id (checked)
    user_id: str | None
    fhir_server: str | None  # stripped, no trailing '/': the allow-list, the fetches and the cache key use this
    fhir_token: str | None  # fhirAuthorization.access_token
    draft_orders: tuple[dict[str, Any], ...]  # validated (see DraftOrders.valid)
    selections: tuple[str, ...]
    prefetch: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # bad-id resources removed
    # the context's primitive values (str, number, bool), which fill the `{{context.X}}` of prefetch templates
    context_values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    orders_as_sent: Mapping[str, dict[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    coverage_ids: tuple[str, ...] = ()  # Coverage ids the draft orders name in `insurance`, in order
    cards_off: frozenset[str] = frozenset()  # davinci-crd.configuration card types set to false
    # resources dropped (bad prefetched ids, invalid draft orders): (resource type, id or None, where and why)
    skipped: tuple[tuple[str, str | None, str], ...] = ()
    unreadable_facet_orders: tuple[Skipped, ...] = ()  # facet orders no reader could use: a card each (order-sign)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# What reaches logs and the audit is bounded and clean, checked here once (issue 10): a UUID per CDS Hooks,
# the FHIR id grammar (R4 `id`), and no control characters (CR/LF would forge log lines; PostgreSQL refuses NUL).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_IDENTIFIER = 1024  # userId, selections: references, far longer than any real one


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes, max_depth: int) -> Any:
    # orjson parses a prefetch ~2x faster (issue 12) and refuses what we refuse (NaN, invalid UTF-8, lone
    # surrogates); anything it refuses goes through the stdlib path below, so every refusal reads as before.
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        if _text_deeper_than(body, max_depth):
            raise BadRequest(f"JSON nested deeper than {max_depth} levels")
        return data
    try:
        text = body.decode("utf-8")  # JSON on the wire is UTF-8 (RFC 8259); no guessing at UTF-16/32
        data = json.loads(text, parse_constant=_refuse_constant)  # NaN/Infinity are not JSON either
    except RecursionError:
        raise BadRequest(f"JSON nested deeper than {max_depth} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"body is not valid JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    if _deeper_than(data, max_depth):
        raise BadRequest(f"JSON nested deeper than {max_depth} levels")
    if _SURROGATE_ESCAPE.search(text) and not _encodable(data):  # cheap test first: escapes are rare
        raise BadRequest("body contains an unpaired UTF-16 surrogate")
    return data


def _encodable(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET_OR_QUOTE = bytes(range(256)).translate(None, b'[]{}"')


def _text_deeper_than(body: bytes, limit: int) -> bool:
    """_deeper_than on the text of JSON that orjson accepted, with bytes operations only (2-3x faster on
    a 570 kB prefetch, issue 12): drop escaped backslashes and quotes (the only escapes holding either),
    keep brackets and quotes, drop what lies between quotes (string contents), then peel innermost `[]`
    pairs, one nesting level a round. Valid JSON: no backslash or quote outside strings, brackets balanced.

    Quotes alternate open/close, so two adjacent ones are an empty string or the end of one string and the
    start of the next: deleting them keeps the alternation and only merges spans that are dropped anyway.
    That leaves quotes only around strings holding brackets (rare), so the split below runs on a few bytes
    rather than making an object of every string of the body (it was most of this check's cost)."""
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = bytes(body).translate(_SQUARE, _NOT_BRACKET_OR_QUOTE).replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(brackets.split(b'"')[::2])
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def _deeper_than(node: Any, limit: int) -> bool:
    """True when containers nest more than `limit` levels. Level by level, without recursion, so a hostile
    body cannot exhaust the stack; only containers are visited (this runs on every request: issue 12)."""
    level = [node] if isinstance(node, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        inner = []
        for container in level:
            for child in container.values() if type(container) is dict else container:
                if type(child) is dict or type(child) is list:
                    inner.append(child)
        level = inner
    return False


def parse_hook_request(data: Any, *, expected_hook: str | None = None, max_draft_orders: int = 50,
                       max_prefetch_resources: int = 5000, body: bytes | None = None) -> HookRequest:
    """The one parse of a hook call's body (`expected_hook`: the service's hook; None takes the body's).

    `body`, the JSON text `data` was parsed from, lets the NUL test read the text instead of writing `data`
    out again: JSON can only spell a NUL `\\u0000` (a raw NUL byte is refused by both parsers)."""
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    hook = data.get("hook")
    if not isinstance(hook, str) or not hook:
        raise BadRequest("'hook' is required")
    if expected_hook is not None and hook != expected_hook:
        raise BadRequest(f"this service answers '{expected_hook}', not '{hook}'")
    if hook not in REQUIRED_CONTEXT:
        raise BadRequest(f"'{hook}' is not a hook this service answers")
    if not isinstance(data.get("hookInstance"), str) or not data["hookInstance"]:
        raise BadRequest("'hookInstance' is required")
    if not _UUID.fullmatch(data["hookInstance"]):
        raise BadRequest("'hookInstance' must be a UUID (CDS Hooks 2.0)")
    context = data.get("context")
    if not isinstance(context, dict):
        raise BadRequest("'context' is required and must be an object")
    missing = [name for name in REQUIRED_CONTEXT[hook] if context.get(name) in (None, "")]
    if missing:
        raise BadRequest(f"context is missing {', '.join(missing)}")
    if not isinstance(context["patientId"], str):
        raise BadRequest("context.patientId must be a string")
    if not FHIR_ID.fullmatch(context["patientId"]):
        raise BadRequest("context.patientId is not a FHIR id (1-64 of A-Z a-z 0-9 - .)")
    _check_identifier("context.userId", context.get("userId"))
    fhir_server = data.get("fhirServer")
    if fhir_server is not None and (not isinstance(fhir_server, str) or not fhir_server.strip()):
        raise BadRequest("'fhirServer' must be a URL string")
    # fhirServer is not checked here: anything not exactly on the client's allow-list is a 403 (contract §5)
    if _has_nul(data) if body is None else b"\\u0000" in body and _walk_has_nul(data):
        raise BadRequest("the body contains a NUL character (\\u0000)")
    if data.get("fhirAuthorization") is not None:
        if fhir_server is None:
            raise BadRequest("'fhirAuthorization' requires 'fhirServer'")
        if not isinstance(data["fhirAuthorization"], dict) or not isinstance(
            data["fhirAuthorization"].get("access_token"), str
        ):
            raise BadRequest("'fhirAuthorization.access_token' is required")
    if data.get("prefetch") is not None and not isinstance(data["prefetch"], dict):
        raise BadRequest("'prefetch' must be an object")
    prefetched = sum(len(normalize_bundle_entries(v)) for v in (data.get("prefetch") or {}).values())
    if prefetched > max_prefetch_resources:
        raise BadRequest(f"more than {max_prefetch_resources} prefetched resources")
    orders: list[dict[str, Any]] = []
    if "draftOrders" in context:
        if not isinstance(context["draftOrders"], (dict, list)):
            raise BadRequest("context.draftOrders must be a Bundle")
        orders = [o for o in normalize_bundle_entries(context["draftOrders"]) if isinstance(o, dict)]
        if len(orders) > max_draft_orders:
            raise BadRequest(f"more than {max_draft_orders} draft orders")
        if any(not isinstance(o.get("id", ""), str) for o in orders):
            raise BadRequest("context.draftOrders: an order id must be a string")
        if any("id" in o and not FHIR_ID.fullmatch(o["id"]) for o in orders):
            raise BadRequest("context.draftOrders: an order id is not a FHIR id (1-64 of A-Z a-z 0-9 - .)")
    selections = context.get("selections") or []
    if isinstance(selections, str):
        selections = [selections]  # clients send singletons where arrays belong
    if not isinstance(selections, list):
        raise BadRequest("context.selections must be an array of 'Type/id' strings")
    for selection in selections:
        _check_identifier("context.selections", selection)
    prefetch, skipped_ids = _without_bad_ids(data.get("prefetch"))
    drafts = validate_draft_orders(orders)
    authorization = data.get("fhirAuthorization")
    user_id = context.get("userId")
    return HookRequest(
        hook=hook,
        hook_instance=data["hookInstance"],
        patient_id=context["patientId"],
        user_id=user_id if isinstance(user_id, str) else None,
        fhir_server=normalize_fhir_server(fhir_server) if isinstance(fhir_server, str) else None,
        fhir_token=(authorization["access_token"] or None) if isinstance(authorization, dict) else None,
        draft_orders=drafts.valid,
        selections=tuple(str(s) for s in selections if isinstance(s, str)),
        prefetch=MappingProxyType(prefetch if isinstance(prefetch, dict) else {}),
        context_values=MappingProxyType({k: v for k, v in context.items() if isinstance(v, str | int | float)}),
        orders_as_sent=drafts.as_sent,
        coverage_ids=insurance_coverage_ids(orders),  # as sent: a skipped order still names the EHR's Coverage
        cards_off=_cards_off(data.get("extension")),
        unreadable_facet_orders=drafts.unreadable_facet_orders,
        skipped=tuple((kind, None, problem) for kind, problem in skipped_ids)
        + tuple((s.resource_type or "?", s.resource_id, s.problem) for s in drafts.skipped),
    )


def normalize_fhir_server(url: str) -> str:
    """The one spelling of a fhirServer base URL: no surrounding whitespace, no trailing '/'."""
    return url.strip().rstrip("/")


def insurance_coverage_ids(orders: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """Coverage ids the orders name in `insurance` (`Coverage/{id}` read as the record reads references:
    relative or absolute, versioned, padded), first named first."""
    ids: list[str] = []
    for order in orders:
        insurance = order.get("insurance")
        for ref in insurance if isinstance(insurance, list) else []:
            coverage_id = reference_id(ref, "Coverage")
            if coverage_id and coverage_id not in ids:
                ids.append(coverage_id)
    return tuple(ids)


def _cards_off(extension: Any) -> frozenset[str]:
    """Card types the client set to false in `davinci-crd.configuration` (CRD dev-14)."""
    config = extension.get("davinci-crd.configuration") if isinstance(extension, dict) else None
    if not isinstance(config, dict):
        return frozenset()
    return frozenset(code for code, value in config.items() if value is False)


def _check_identifier(name: str, value: Any) -> None:
    if isinstance(value, str) and (len(value) > _MAX_IDENTIFIER or _CONTROL.search(value)):
        raise BadRequest(f"{name} is longer than {_MAX_IDENTIFIER} characters or holds control characters")


def _has_nul(node: Any) -> bool:
    """NUL anywhere (a key or a value): no text column can store it, and no FHIR string may hold it.

    orjson writes a NUL as `\\u0000`: when its output has none, there is none (a ~10x cheaper test, issue
    12); a hit (or a value orjson cannot write) is confirmed by the walk."""
    try:
        if b"\\u0000" not in orjson.dumps(node):
            return False
    except orjson.JSONEncodeError:
        pass
    return _walk_has_nul(node)


def _walk_has_nul(node: Any) -> bool:
    if isinstance(node, str):
        return "\x00" in node
    if isinstance(node, dict):
        return any("\x00" in key or _walk_has_nul(value) for key, value in node.items())
    if isinstance(node, list):
        return any(_walk_has_nul(item) for item in node)
    return False


def _bad_id(resource: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(resource, dict) and "id" in resource and not (
        isinstance(resource["id"], str) and FHIR_ID.fullmatch(resource["id"]))


def _safe(name: Any) -> str:
    """A client-sent name fit for logs: as sent when it is id-shaped, else '?'."""
    return name if isinstance(name, str) and FHIR_ID.fullmatch(name) else "?"


def _without_bad_ids(prefetch: Any) -> tuple[Any, list[tuple[str, str]]]:
    """Prefetched resources whose id breaks the FHIR id grammar are skipped (a bad resource is skipped and
    named, not the call refused); the names say type and position, never the offending id itself."""
    if not isinstance(prefetch, dict):
        return prefetch, []
    skipped: list[tuple[str, str]] = []
    cleaned: dict[str, Any] = {}
    for key, value in prefetch.items():
        if _bad_id(value):
            skipped.append((_safe(value.get("resourceType")), f"prefetch '{_safe(key)}': id is not a FHIR id"))
            cleaned[key] = None  # prefetched as "the client has none": do not fetch what the EHR sent wrongly
        elif isinstance(value, dict) and isinstance(value.get("entry"), list):
            if _every_entry_has_a_good_id(value["entry"]):
                cleaned[key] = {**value, "entry": list(value["entry"])}
                continue
            entries = []
            for i, entry in enumerate(value["entry"]):
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if _bad_id(resource):
                    where = f"prefetch '{_safe(key)}' entry {i}: id is not a FHIR id"
                    skipped.append((_safe(resource.get("resourceType")), where))
                else:
                    entries.append(entry)
            cleaned[key] = {**value, "entry": entries}
        else:
            cleaned[key] = value
    return cleaned, skipped


_GOOD_IDS = re.compile(rf"(?:{FHIR_ID.pattern}\n)*{FHIR_ID.pattern}")  # FHIR ids, one a line


def _every_entry_has_a_good_id(entries: list[Any]) -> bool:
    """True when every entry's resource has an id of the FHIR grammar: one regex over all ids instead of a
    check per entry (issue 12). False sends the bundle to the entry-by-entry path (which also keeps entries
    without an id or a resource)."""
    try:
        ids = [entry["resource"]["id"] for entry in entries]
        joined = "\n".join(ids)
    except (KeyError, TypeError):  # an entry without a resource or an id, or an id that is not a string
        return False
    # an id holding a newline would read as two good ones: the count of separators rules that out
    return not ids or (joined.count("\n") == len(ids) - 1 and _GOOD_IDS.fullmatch(joined) is not None)
