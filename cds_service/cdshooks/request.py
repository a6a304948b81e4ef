"""Reading a CDS Hooks request body: strict about what the spec requires, tolerant about everything else."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from cds_service.fhir_access.normalize import normalize_bundle_entries

REQUIRED_CONTEXT = {
    "order-select": ("userId", "patientId", "selections", "draftOrders"),
    "order-sign": ("userId", "patientId", "draftOrders"),
    "patient-view": ("userId", "patientId"),
}


class BadRequest(ValueError):
    """The request cannot be used; the message says what is wrong (HTTP 400)."""


@dataclass(frozen=True)
class HookRequest:
    raw: Mapping[str, Any]
    hook: str
    hook_instance: str
    patient_id: str
    fhir_server: str | None
    draft_orders: tuple[dict[str, Any], ...]
    selections: tuple[str, ...]


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes, max_depth: int) -> Any:
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


def _deeper_than(node: Any, limit: int) -> bool:
    """True when containers nest more than `limit` levels. The recursion stops at the limit, so a hostile
    body cannot exhaust the stack, and only containers are visited (this runs on every request)."""
    if limit == 0:
        return isinstance(node, (dict, list))
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return any(isinstance(child, (dict, list)) and _deeper_than(child, limit - 1) for child in children)


def parse_hook_request(data: Any, *, expected_hook: str, max_draft_orders: int,
                       max_prefetch_resources: int = 5000) -> HookRequest:
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    hook = data.get("hook")
    if not isinstance(hook, str) or not hook:
        raise BadRequest("'hook' is required")
    if hook != expected_hook:
        raise BadRequest(f"this service answers '{expected_hook}', not '{hook}'")
    if not isinstance(data.get("hookInstance"), str) or not data["hookInstance"]:
        raise BadRequest("'hookInstance' is required")
    context = data.get("context")
    if not isinstance(context, dict):
        raise BadRequest("'context' is required and must be an object")
    missing = [name for name in REQUIRED_CONTEXT[hook] if context.get(name) in (None, "")]
    if missing:
        raise BadRequest(f"context is missing {', '.join(missing)}")
    if not isinstance(context["patientId"], str):
        raise BadRequest("context.patientId must be a string")
    fhir_server = data.get("fhirServer")
    if fhir_server is not None and (not isinstance(fhir_server, str) or not fhir_server):
        raise BadRequest("'fhirServer' must be a URL string")
    if data.get("fhirAuthorization") is not None:
        if fhir_server is None:
            raise BadRequest("'fhirAuthorization' requires 'fhirServer'")
        if not isinstance(data["fhirAuthorization"], dict) or not isinstance(data["fhirAuthorization"].get("access_token"), str):
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
    selections = context.get("selections") or []
    if isinstance(selections, str):
        selections = [selections]  # clients send singletons where arrays belong
    if not isinstance(selections, list):
        raise BadRequest("context.selections must be an array of 'Type/id' strings")
    return HookRequest(
        raw=data,
        hook=hook,
        hook_instance=data["hookInstance"],
        patient_id=context["patientId"],
        fhir_server=fhir_server.rstrip("/") if isinstance(fhir_server, str) else None,
        draft_orders=tuple(orders),
        selections=tuple(str(s) for s in selections if isinstance(s, str)),
    )
