"""The service as real processes with CDS_DATABASE_URL=postgresql://...: audit and replay protection live there.

Two processes share one database and one public URL, as two hosts behind a load balancer would.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests

from tests.conftest import FHIR_TOKEN
from tests.integration.postgres.cluster import PostgresCluster
from tests.support.hook_bodies import coverage_decisions, hook_body
from tests.support.jwt_factory import KeyPair, make_claims
from tests.support.scenarios import scenario
from tests.support.service_process import EHR_ISS, ServiceProcess, start_service

PUBLIC_BASE_URL = "https://cds.test.example"  # both processes' public URL: the JWT `aud` names it, not a host
ORDER_SIGN = "/cds-services/facet-order-sign"


@pytest.fixture(scope="module")
def database_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    name = f"service_{uuid.uuid4().hex[:12]}"
    yield postgres_cluster.create_database(name)
    postgres_cluster.drop_database(name)


@pytest.fixture(scope="module")
def ehr_key() -> KeyPair:
    return KeyPair.generate("ES384")


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory, fhir_server: str, database_url: str,
              ehr_key: KeyPair) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    env = {"CDS_DATABASE_URL": database_url, "CDS_PUBLIC_BASE_URL": PUBLIC_BASE_URL}
    first = start_service(tmp_path_factory.mktemp("host-a"), fhir_servers=[fhir_server], extra_env=env, key=ehr_key)
    try:
        second = start_service(tmp_path_factory.mktemp("host-b"), fhir_servers=[fhir_server], extra_env=env, key=ehr_key)
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


def signed_token(key: KeyPair, path: str) -> str:
    return key.sign(make_claims(f"{PUBLIC_BASE_URL}{path}", EHR_ISS))


def post_hook(host: ServiceProcess, token: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{host.base_url}{ORDER_SIGN}", data=json.dumps(body), timeout=20,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def rows(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(query, params).fetchall()


def test_an_order_sign_call_is_audited_in_postgresql(two_hosts, ehr_key: KeyPair, fhir_server: str,
                                                     database_url: str) -> None:
    host, _ = two_hosts
    case = scenario("dx-four-levels")
    body = hook_body(case, "order-sign", fhir_server=fhir_server, token=FHIR_TOKEN, prefetch=False)
    response = post_hook(host, signed_token(ehr_key, ORDER_SIGN), body)
    assert response.status_code == 200, response.text
    assert set(coverage_decisions(response.json()).values()) == {"not-covered"}

    ((status, decisions, audit_id),) = rows(
        database_url, "SELECT status, decisions, id FROM audit WHERE hook_instance = %s", body["hookInstance"])
    assert status == 200
    assert json.loads(decisions)[0]["notMet"] == ["I.A.1.d"]
    assertions = rows(database_url, "SELECT decision FROM assertion WHERE audit_id = %s", audit_id)
    assert assertions == [("not-covered",)]
    everything = rows(database_url, "SELECT * FROM audit") + rows(database_url, "SELECT * FROM assertion")
    assert case["patientId"] not in str(everything)  # hashed, never the id
    assert host.get("/readyz").json()["database"] == "reachable"


def test_a_token_used_on_one_host_is_refused_on_the_other(two_hosts, ehr_key: KeyPair) -> None:
    first, second = two_hosts
    body = hook_body(scenario("dx-four-levels"), "order-sign")
    token = signed_token(ehr_key, ORDER_SIGN)
    assert post_hook(first, token, body).status_code == 200
    replayed = post_hook(second, token, body)
    assert replayed.status_code == 401
    assert "already used" in second.log()  # the client is told no more than 401; the log says why
    # The same host accepts a fresh token: the refusal was the replay, not the audience or the key.
    assert post_hook(second, signed_token(ehr_key, ORDER_SIGN), body).status_code == 200
