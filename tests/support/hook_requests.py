"""Test bodies as the service reads them: `gather_record` takes a parsed `HookRequest`, never a raw body."""
from __future__ import annotations

from typing import Any

from cds_service.cdshooks.request import HookRequest, parse_hook_request

_HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"


def as_request(body: dict[str, Any]) -> HookRequest:
    """Parse a test's hook body as the service does, filling what the tests leave out (hookInstance, userId,
    an empty draftOrders), so the tests read the same `HookRequest` a real call would produce."""
    context = {"userId": "Practitioner/1", "draftOrders": {"resourceType": "Bundle", "type": "collection"},
               **body.get("context", {})}
    hook_instance = body.get("hookInstance")
    if not isinstance(hook_instance, str) or len(hook_instance) != 36:
        hook_instance = _HOOK_INSTANCE
    return parse_hook_request({**body, "hook": body.get("hook", "order-sign"), "hookInstance": hook_instance,
                               "context": context})
