"""Start the real SEKMET FHIR R4 server (sekmet-fhir 0.1.1) on loopback for integration tests.

    base_url, stop = start_sekmet(tmp_path)            # bearer auth on, simulator off
    load_bundle(base_url, "test-token", transaction_bundle)
    ...
    stop()

It binds 127.0.0.1 on a free port and keeps its SQLite file and log in `tmp_dir`.
See ecosystem.md §A for the settings and SEKMET's quirks.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import requests

from cds_service.dev.fhir_server import start_fhir_server

FHIR_JSON = "application/fhir+json"


def start_sekmet(tmp_dir: Path | str, token: str = "test-token") -> tuple[str, Callable[[], None]]:
    """Start SEKMET with bearer `token` required (the product's own launcher); returns (base_url, stop)."""
    server = start_fhir_server(Path(tmp_dir), bearer_token=token, log_requests=False)
    return server.base_url, server.stop


def put_transaction(resources: Iterable[dict[str, Any]], *, full_urls: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A transaction Bundle that PUTs each resource at its own id; `full_urls` ("Type/id" → a urn:uuid fullUrl)
    keeps the fullUrls that references inside the bundle resolve to, as a real load would."""
    def entry(r: dict[str, Any]) -> dict[str, Any]:
        key = f"{r['resourceType']}/{r['id']}"
        full_url = (full_urls or {}).get(key)
        return {**({"fullUrl": full_url} if full_url else {}), "resource": r, "request": {"method": "PUT", "url": key}}

    return {"resourceType": "Bundle", "type": "transaction", "entry": [entry(r) for r in resources]}


def load_bundle(base_url: str, token: str, bundle: dict[str, Any]) -> dict[str, Any]:
    """POST a transaction or batch Bundle; returns the response Bundle.

    :raise RuntimeError: the server refused it or an entry failed (the message has the outcome).
    """
    response = requests.post(
        base_url,
        json=bundle,
        headers={"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
        timeout=30,
    )
    if response.status_code >= 300:
        raise RuntimeError(f"loading the bundle failed: HTTP {response.status_code}: {response.text[:2000]}")
    answer: dict[str, Any] = response.json()
    failed = [
        entry["response"]
        for entry in answer.get("entry", [])
        if not str(entry.get("response", {}).get("status", "")).startswith("2")
    ]
    if failed:
        raise RuntimeError(f"loading the bundle failed for {len(failed)} entries: {failed[:3]}")
    return answer
