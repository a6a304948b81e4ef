"""Shared fixtures: a real FHIR server loaded with every synthetic scenario, and the service as a real process."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.scenarios import all_scenarios, rw_scenarios
from tests.support.sekmet import load_bundle, put_transaction, start_sekmet
from tests.support.service_process import ServiceProcess, free_port, start_service

FHIR_TOKEN = "test-token"


def _transaction(scenario: dict) -> dict:
    """The scenario's record and draft orders as PUTs; deliberately malformed resources are left out."""
    skip = set(scenario.get("malformedResourceIds", []))
    entries = scenario["record"].get("entry", []) + scenario["draftOrders"].get("entry", [])
    full_urls = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["fullUrl"] for e in entries if "fullUrl" in e}
    return put_transaction((e["resource"] for e in entries if e["resource"].get("id") not in skip), full_urls=full_urls)


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory) -> Iterator[str]:
    """SEKMET (a real FHIR R4 server) on a free loopback port, bearer-protected, loaded with every scenario."""
    base_url, stop = start_sekmet(tmp_path_factory.mktemp("sekmet"), token=FHIR_TOKEN)
    try:
        for scenario in all_scenarios() + rw_scenarios():
            load_bundle(base_url, FHIR_TOKEN, _transaction(scenario))
        yield base_url
    finally:
        stop()


@pytest.fixture(scope="session")
def dead_fhir_server() -> str:
    """An allow-listed FHIR base URL on a loopback port where nothing listens: the EHR's server is down."""
    return f"http://127.0.0.1:{free_port()}/fhir"


@pytest.fixture(scope="session")
def service(tmp_path_factory, fhir_server, dead_fhir_server) -> Iterator[ServiceProcess]:
    """The CDS service as a separate server process (CDS_AUTH=on), trusting one test EHR for those FHIR servers."""
    svc = start_service(tmp_path_factory.mktemp("service"), fhir_servers=[fhir_server, dead_fhir_server])
    try:
        yield svc
    finally:
        svc.stop()
