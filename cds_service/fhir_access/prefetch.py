"""What the client prefetched: a missing key means "fetch it", `null` means "the client has none" (CDS Hooks 2.0).

A prefetch that failed (an OperationOutcome, an error entry) or that has more pages is fetched again instead.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds_service.fhir_access.bundle_links import FULL_URL_KEY
from cds_service.fhir_access.json_values import as_list


def read_prefetch(key: str, prefetch: Mapping[str, Any], warnings: list[str]) -> list[dict[str, Any]] | None:
    """The resources the client prefetched under `key`, or None when the key must be fetched."""
    if key not in prefetch:
        return None
    value = prefetch[key]
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        warnings.append(f"{key}: prefetch is not a FHIR resource; fetched instead")
        return None
    if value["resourceType"] == "OperationOutcome":
        warnings.append(f"{key}: prefetch failed (OperationOutcome); fetched instead")
        return None
    if value["resourceType"] != "Bundle":
        return [value]
    return _read_prefetched_bundle(key, value, warnings)


def _read_prefetched_bundle(key: str, bundle: dict[str, Any], warnings: list[str]) -> list[dict[str, Any]] | None:
    if any(isinstance(link, dict) and link.get("relation") == "next" for link in as_list(bundle.get("link"))):
        # following the client's next link is no cheaper than asking again, and stays on fhirServer
        warnings.append(f"{key}: prefetch Bundle has more pages; fetched instead")
        return None
    resources = []
    for entry in as_list(bundle.get("entry")):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") != "OperationOutcome":
            full_url = entry.get("fullUrl")
            # kept for `urn:uuid:` references between entries; bundle_links resolves and removes it
            resources.append(
                {**resource, FULL_URL_KEY: full_url} if isinstance(full_url, str) and full_url else resource
            )
        elif _is_failure(resource):
            warnings.append(f"{key}: prefetch Bundle reports an error; fetched instead")
            return None
        else:
            warnings.append(f"{key}: prefetch Bundle carries a server note")
    return resources


def _is_failure(outcome: Mapping[str, Any]) -> bool:
    return any(
        isinstance(issue, dict) and issue.get("severity") in ("error", "fatal")
        for issue in as_list(outcome.get("issue"))
    )
