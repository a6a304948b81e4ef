"""Issue 9: one exception tree, one table at the HTTP boundary (api/errors.py) that every error class reaches."""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import cds_service
from cds_service import errors
from cds_service.api.errors import ERROR_TABLE, answer_for
from tests.support.in_process import in_process_client

CATEGORIES = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.CdsError)]


def every_error_class() -> list[type[errors.CdsError]]:
    for module in pkgutil.walk_packages(cds_service.__path__, "cds_service."):
        if module.name not in ("cds_service.wsgi", "cds_service.__main__"):  # wsgi builds an app from the env
            importlib.import_module(module.name)
    found, todo = [], [errors.CdsError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_category_has_its_own_entry():
    assert {cls for cls in CATEGORIES} <= set(ERROR_TABLE)


@pytest.mark.parametrize("cls", every_error_class(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_error_class_derives_from_a_category_with_an_entry(cls):
    """A class hung directly under CdsError (no category) would be answered as a bare 500: not allowed."""
    nearest = next(base for base in cls.__mro__ if base in ERROR_TABLE)
    assert cls is errors.CdsError or nearest is not errors.CdsError, f"{cls.__name__}: derive it from a category"


def test_the_table_gives_the_statuses_the_contract_lists():
    from cds_service.cdshooks.request import BadRequest
    from cds_service.fhir_access import FhirUnavailable, PrefetchUnavailable
    from cds_service.security import AuthError
    from cds_service.storage.errors import DatabaseUnavailable

    assert answer_for(BadRequest("x")).status == 400
    assert answer_for(AuthError("bad kid")).diagnostics == (
        "authentication required: a valid client JWT was not presented")  # the reason stays in the log
    assert answer_for(PrefetchUnavailable(["coverage"])).status == 412
    assert answer_for(DatabaseUnavailable("down")).retry_after_s == 5
    assert answer_for(FhirUnavailable("HTTP 500")).status == 500  # never escapes gather_record; if it did: no detail


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return in_process_client(tmp_path_factory.mktemp("errors"), CDS_AUTH="off", CDS_MAX_BODY_BYTES="2000")


def issue(response):
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["code"], body["issue"][0]["diagnostics"]


def test_representative_refusals_are_answered_as_before(client):
    hook = "/cds-services/facet-order-sign"
    unknown = client.post("/cds-services/nope", json={})
    assert unknown.status_code == 404 and issue(unknown) == ("not-found", "no CDS service 'nope'")

    too_large = client.post(hook, data=b"{" + b" " * 3000 + b"}", content_type="application/json")
    assert too_large.status_code == 413 and issue(too_large) == ("too-long", "request body over 2000 bytes")

    headers = client.get("/healthz", headers={"X-Padding": "x" * 17000})
    assert headers.status_code == 431 and issue(headers) == ("too-long", "request headers over 16384 bytes")

    not_json = client.post(hook, data=b"{", content_type="application/json")
    assert not_json.status_code == 400 and issue(not_json)[0] == "invalid"
    assert issue(not_json)[1].startswith("body is not valid JSON")

    body = {"hook": "order-sign", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/1", "patientId": "p1", "draftOrders": {"resourceType": "Bundle"}}}
    no_prefetch = client.post(hook, json=body)
    assert no_prefetch.status_code == 412
    code, diagnostics = issue(no_prefetch)
    assert code == "incomplete" and diagnostics.startswith("not prefetched and no fhirServer to fetch from: patient")

    forbidden = client.post(hook, json={**body, "fhirServer": "http://192.0.2.1/fhir",
                                        "fhirAuthorization": {"access_token": "t"}})
    assert forbidden.status_code == 403 and issue(forbidden) == ("forbidden", "fhirServer is not on this client's allow-list")


def test_a_jwt_refusal_says_nothing_of_why(tmp_path):
    client = in_process_client(tmp_path, CDS_AUTH="on")
    refused = client.post("/cds-services/facet-order-sign", json={}, headers={"Authorization": "Bearer not-a-jwt"})
    assert refused.status_code == 401
    assert issue(refused) == ("login", "authentication required: a valid client JWT was not presented")
