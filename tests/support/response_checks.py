"""A structure checker for CDS Hooks responses, run by every suite over every fixture response.

It mirrors what clients and Inferno's `crd_service_response_validation` reject, plus the CDS Hooks
2.0 and CRD STU 2.2 rules the team promised (uuid everywhere, no empty optional fields, q1–q9).
`check_cds_response(body, hook=...)` returns one readable line per problem; empty means valid.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

from cds_service.cdshooks.coverage_info import check_coverage_information
from cds_service.policy.conventions import COVERAGE_INFORMATION_URL

INDICATORS = {"info", "warning", "critical"}
SELECTION_BEHAVIORS = {"at-most-one", "any"}
ACTION_TYPES = {"create", "update", "delete"}
LINK_TYPES = {"absolute", "smart"}
SUMMARY_LIMIT = 140  # CDS Hooks: fewer than 140 characters
HOOKS_WITH_SYSTEM_ACTIONS = {"order-sign", "order-dispatch", "appointment-book"}  # Inferno requires them


def check_cds_response(body: dict, *, hook: str) -> list[str]:
    """Every problem in a hook response body, as `path: what is wrong` lines."""
    if not isinstance(body, dict):
        return ["body: not a JSON object"]
    cards = body.get("cards")
    if not isinstance(cards, list):
        return ["cards: missing or not an array (required, even when empty)"]
    problems: list[str] = []
    for index, card in enumerate(cards):
        problems += _card_problems(card, f"cards[{index}]")
    problems += _system_action_problems(body, hook)
    return problems


def _card_problems(card: object, path: str) -> list[str]:
    if not isinstance(card, dict):
        return [f"{path}: not an object"]
    problems = [f"{where}: empty or null optional field" for where in _empty_fields(card, path)]
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems.append(f"{path}.summary: missing")
    elif len(summary) >= SUMMARY_LIMIT:
        problems.append(f"{path}.summary: {len(summary)} characters (must be fewer than {SUMMARY_LIMIT})")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"{path}.indicator: {card.get('indicator')!r} is not info | warning | critical")
    if not _is_uuid(card.get("uuid")):
        problems.append(f"{path}.uuid: missing or not a UUID")
    if "detail" in card and not isinstance(card["detail"], str):
        problems.append(f"{path}.detail: not a string")
    problems += _source_problems(card.get("source"), f"{path}.source")
    problems += _suggestion_problems(card, path)
    problems += _link_problems(card.get("links", []), f"{path}.links")
    problems += _override_problems(card.get("overrideReasons", []), f"{path}.overrideReasons")
    return problems


def _source_problems(source: object, path: str) -> list[str]:
    if not isinstance(source, dict):
        return [f"{path}: missing"]
    problems = []
    if not isinstance(source.get("label"), str) or not source["label"].strip():
        problems.append(f"{path}.label: missing")
    topic = source.get("topic")
    if not isinstance(topic, dict) or not all(isinstance(topic.get(k), str) for k in ("system", "code")):
        problems.append(f"{path}.topic: missing or without system and code (CRD resp-5)")
    return problems


def _suggestion_problems(card: dict, path: str) -> list[str]:
    suggestions = card.get("suggestions")
    if suggestions is None:
        return [f"{path}.selectionBehavior: present without suggestions"] if "selectionBehavior" in card else []
    problems = []
    if card.get("selectionBehavior") not in SELECTION_BEHAVIORS:
        problems.append(f"{path}.selectionBehavior: required with suggestions (at-most-one | any)")
    recommended = sum(1 for s in suggestions if isinstance(s, dict) and s.get("isRecommended") is True)
    if card.get("selectionBehavior") == "at-most-one" and recommended > 1:
        problems.append(f"{path}.suggestions: more than one isRecommended with at-most-one")
    for index, suggestion in enumerate(suggestions):
        where = f"{path}.suggestions[{index}]"
        if not isinstance(suggestion, dict):
            problems.append(f"{where}: not an object")
            continue
        if not _is_uuid(suggestion.get("uuid")):
            problems.append(f"{where}.uuid: missing or not a UUID (CRD resp-3)")
        if not isinstance(suggestion.get("label"), str) or not suggestion["label"].strip():
            problems.append(f"{where}.label: missing")
        actions = suggestion.get("actions")
        if not isinstance(actions, list) or not actions:
            problems.append(f"{where}.actions: missing")
            continue
        for number, action in enumerate(actions):
            problems += _action_problems(action, f"{where}.actions[{number}]")
    return problems


def _action_problems(action: object, path: str) -> list[str]:
    if not isinstance(action, dict):
        return [f"{path}: not an object"]
    problems = []
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        problems.append(f"{path}.type: {kind!r} is not create | update | delete")
    if not isinstance(action.get("description"), str) or not action["description"].strip():
        problems.append(f"{path}.description: missing")
    if kind in {"create", "update"} and not (isinstance(action.get("resource"), dict)
                                           and action["resource"].get("resourceType")):
        problems.append(f"{path}.resource: {kind} needs a resource")
    if kind == "delete" and not isinstance(action.get("resourceId"), str):
        problems.append(f"{path}.resourceId: delete needs a resourceId")
    return problems


def _link_problems(links: object, path: str) -> list[str]:
    if not isinstance(links, list):
        return [f"{path}: not an array"]
    problems = []
    for index, link in enumerate(links):
        where = f"{path}[{index}]"
        if not isinstance(link, dict):
            problems.append(f"{where}: not an object")
            continue
        if not isinstance(link.get("label"), str) or not link["label"].strip():
            problems.append(f"{where}.label: missing")
        if not str(link.get("url", "")).startswith(("https://", "http://")):
            problems.append(f"{where}.url: missing or not absolute")
        if link.get("type") not in LINK_TYPES:
            problems.append(f"{where}.type: {link.get('type')!r} is not absolute | smart")
        if "appContext" in link and link.get("type") != "smart":
            problems.append(f"{where}.appContext: only allowed on smart links")
    return problems


def _override_problems(reasons: object, path: str) -> list[str]:
    if not isinstance(reasons, list):
        return [f"{path}: not an array"]
    return [f"{path}[{index}]: needs code, system and display"
            for index, reason in enumerate(reasons)
            if not (isinstance(reason, dict) and all(isinstance(reason.get(k), str) and reason[k]
                                                     for k in ("code", "system", "display")))]


def _system_action_problems(body: dict, hook: str) -> list[str]:
    if hook == "patient-view":
        return ["systemActions: never on patient-view"] if "systemActions" in body else []
    actions = body.get("systemActions")
    if actions is None:
        required = hook in HOOKS_WITH_SYSTEM_ACTIONS
        return ["systemActions: missing (always present on order-sign)"] if required else []
    if not isinstance(actions, list):
        return ["systemActions: not an array"]
    problems = []
    for index, action in enumerate(actions):
        path = f"systemActions[{index}]"
        problems += _action_problems(action, path)
        resource = action.get("resource") if isinstance(action, dict) else None
        for number, extension in enumerate((resource or {}).get("extension", [])):
            if isinstance(extension, dict) and extension.get("url") == COVERAGE_INFORMATION_URL:
                where = f"{path}.resource.extension[{number}]"
                problems += [f"{where}: {p}" for p in check_coverage_information(extension)]
    return problems


def _empty_fields(value: object, path: str) -> Iterator[str]:
    """Paths of null, "", [] or {} values (CDS Hooks: omit optional fields rather than send them empty)."""
    if value is None or value == "" or value == [] or value == {}:
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _empty_fields(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _empty_fields(item, f"{path}[{index}]")


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
