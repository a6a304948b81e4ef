"""References between the resources of a prefetched Bundle by their `fullUrl` (contract §4 "Codes").

EHRs send Bundles whose entries refer to each other as `urn:uuid:...` (the entry's `fullUrl`), e.g. a
pain score whose `partOf` is the block Procedure's uuid, or a MedicationRequest whose
`medicationReference` is a Medication entry. The prefetch reader keeps each entry's fullUrl on the
resource under FULL_URL_KEY; `link_full_urls` removes it and rewrites every reference to a known fullUrl
as `Type/id`, so the rest of the service (patient filter, normaliser, engine) reads one reference form.
"""
from __future__ import annotations

import re
from typing import Any

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
        resource = {k: v for k, v in resource.items() if k != FULL_URL_KEY}
        if isinstance(url, str) and isinstance(resource.get("resourceType"), str):
            rid = resource.get("id")
            if not rid and url.startswith("urn:uuid:") and _FHIR_ID.fullmatch(url[len("urn:uuid:"):]):
                rid = resource["id"] = url[len("urn:uuid:"):]
            if isinstance(rid, str) and rid:
                targets[url] = f"{resource['resourceType']}/{rid}"
        out.append(resource)
    if not targets:
        return out
    return [_rewrite(resource, targets) for resource in out]


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
