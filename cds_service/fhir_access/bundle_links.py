"""References between the resources of a prefetched Bundle by their `fullUrl` (contract §4 "Codes").

EHRs send Bundles whose entries refer to each other as `urn:uuid:...` (the entry's `fullUrl`), e.g. a
pain score whose `partOf` is the block Procedure's uuid, or a MedicationRequest whose
`medicationReference` is a Medication entry. The prefetch reader keeps each entry's fullUrl on the
resource under FULL_URL_KEY; `link_full_urls` removes it and rewrites every reference to a known fullUrl
as `Type/id`, so the rest of the service (patient filter, normaliser, engine) reads one reference form.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

FULL_URL_KEY = "__fullUrl"  # never a FHIR element name; removed before anything validates the resource

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def link_full_urls(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The resources without FULL_URL_KEY, references to a Bundle entry's fullUrl as `Type/id`.

    An entry with no `id` gets its uuid as id (what a FHIR server does on a transaction). Inputs are not
    mutated: the prefetch dicts belong to the request.
    """
    targets: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for resource in resources:
        url = resource.get(FULL_URL_KEY)
        if url is None:
            out.append(resource)
            continue
        resource = dict(resource)  # a shallow copy: the prefetch dicts belong to the request
        del resource[FULL_URL_KEY]
        if isinstance(url, str) and isinstance(resource.get("resourceType"), str):
            rid = resource.get("id")
            if not rid and url.startswith("urn:uuid:") and _FHIR_ID.fullmatch(url[len("urn:uuid:"):]):
                rid = resource["id"] = url[len("urn:uuid:"):]
            if isinstance(rid, str) and rid:
                targets[url] = f"{resource['resourceType']}/{rid}"
        out.append(resource)
    if not targets:
        return out
    return _rewrite_referrers(out, targets)


def _rewrite_referrers(resources: list[dict[str, Any]], targets: dict[str, str]) -> list[dict[str, Any]]:
    """Rewrite (a deep copy of) only the resources that hold a reference to a target.

    A searchset gives every entry a fullUrl, so nearly every resource is a target, while references are
    mostly `Patient/x`: rewriting every resource cost ~10 ms on a 1,000-resource prefetch (issue 12). The
    orjson text of the whole list says in one scan which targets anything refers to; only if some are does
    each resource's own text say whether it is one of the referrers.
    """
    try:
        wanted = {ref: targets[ref] for ref in _references_in(orjson.dumps(resources)) if ref in targets}
    except orjson.JSONEncodeError:  # not plain JSON after all (e.g. an int beyond 64 bits): the general way
        return [_rewrite(resource, targets) for resource in resources]
    if not wanted:
        return resources
    # orjson escapes character by character, so a reference holding a wanted one holds its escaped text: a
    # memchr-fast test that rules out nearly every resource before its references are read
    needles = [orjson.dumps(ref)[1:-1] for ref in wanted]
    return [_rewrite(resource, wanted) if _refers_to_any(resource, wanted, needles) else resource
            for resource in resources]


# Every string under a "reference" key is written by orjson as `"reference":"...` (no spaces; inside strings
# `"`, `\` and control characters are escaped, each with a backslash); a string can hold that text only escaped,
# so splitting at it finds each one (and can only find too many, e.g. a key `"reference`: those only go to the
# exact rewrite). ~3x faster than a regex over the text.
_REFERENCE_KEY = b'"reference":"'
_STRING_BODY = re.compile(rb'(?:[^"\\]|\\.)*')


def _references_in(text: bytes) -> Iterable[str]:
    # up to the next quote, which is the closing one unless the string holds a backslash (an escape)
    found = {rest[:rest.find(b'"')] for rest in text.split(_REFERENCE_KEY)[1:]}
    if any(b"\\" in raw for raw in found):  # a quote found may be an escaped one: read every string properly
        found = {_string_at(rest) for rest in text.split(_REFERENCE_KEY)[1:]}
    for raw in found:  # a chart repeats a few references (`Patient/x`) a thousand times
        value = orjson.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode()
        yield value.strip()  # _rewrite compares stripped references


def _string_at(rest: bytes) -> bytes:
    match = _STRING_BODY.match(rest)
    assert match is not None  # the pattern matches the empty string too
    return match.group()


def _refers_to_any(resource: dict[str, Any], wanted: dict[str, str], needles: list[bytes]) -> bool:
    try:
        text = orjson.dumps(resource)
    except orjson.JSONEncodeError:
        return True  # _rewrite decides
    return any(needle in text for needle in needles) and any(ref in wanted for ref in _references_in(text))


def entries_with_full_urls(bundle_or_resource: Any) -> list[dict[str, Any]]:
    """The raw resources of a Bundle (nested Bundles too, or one resource), each carrying its entry's fullUrl
    under FULL_URL_KEY for `link_full_urls`: how a file read from disk gets the prefetch's reference reading."""
    if isinstance(bundle_or_resource, list):
        return [r for item in bundle_or_resource for r in entries_with_full_urls(item)]
    if not isinstance(bundle_or_resource, dict):
        return []
    if bundle_or_resource.get("resourceType") != "Bundle":
        return [bundle_or_resource]
    entries = bundle_or_resource.get("entry")
    entries = [entries] if isinstance(entries, dict) else entries if isinstance(entries, list) else []
    out: list[dict[str, Any]] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
            out += entries_with_full_urls(resource)
        elif isinstance(resource, dict):
            full_url = entry.get("fullUrl")
            out.append({**resource, FULL_URL_KEY: full_url} if isinstance(full_url, str) and full_url else resource)
    return out


def _rewrite(value: Any, targets: dict[str, str]) -> Any:
    if isinstance(value, dict):
        rewritten = {k: _rewrite(v, targets) for k, v in value.items()}
        reference = rewritten.get("reference")
        if isinstance(reference, str) and reference.strip() in targets:
            rewritten["reference"] = targets[reference.strip()]
        return rewritten
    if isinstance(value, list):
        return [_rewrite(v, targets) for v in value]
    return value
