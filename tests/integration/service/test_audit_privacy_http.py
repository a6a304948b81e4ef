"""Issue 10: no raw ids in the audit, and every refused call audited once (over real HTTP, `serve`)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import requests

from tests.support.hook_bodies import hook_body
from tests.support.scenarios import scenario
from tests.support.service_process import ServiceProcess, start_service

SIGN = "/cds-services/facet-order-sign"
SECRET = "secret-pt-4711"  # an id that must never reach the database or the log


def _db(service: ServiceProcess) -> sqlite3.Connection:
    return sqlite3.connect(service.log_path.parent / "cds.sqlite3")


def _body() -> dict:
    return hook_body(scenario("dx-first-lumbar-covered"), "order-sign")


def test_skipped_and_dropped_resource_ids_are_keyed_hashes(service: ServiceProcess) -> None:
    body = _body()
    entries = body["prefetch"]["conditions"]["entry"]
    own = entries[0]["resource"]
    entries.append({"resource": {**own, "id": f"{SECRET}-bad", "code": "not a CodeableConcept"}})  # skipped
    entries.append({"resource": {**own, "id": f"{SECRET}-other", "subject": {"reference": f"Patient/{SECRET}"}}})
    assert service.hook("facet-order-sign", body).status_code == 200
    (detail,) = _db(service).execute("SELECT detail FROM audit WHERE hook_instance = ?",
                                     (body["hookInstance"],)).fetchone()
    parsed = json.loads(detail)
    assert any(s.startswith("Condition/#") for s in parsed["skippedResources"]), parsed
    assert any(s.startswith("Condition/#") for s in parsed["droppedResources"]), parsed
    assert SECRET not in detail
    assert SECRET not in service.log()


def _refusals(service: ServiceProcess, response: requests.Response) -> list[tuple]:
    rows = _db(service).execute("SELECT * FROM refusal WHERE request_id = ?",
                                (response.headers["X-Request-ID"],)).fetchall()
    return rows


def _oversized_headers() -> dict[str, str]:
    return {f"X-Padding-{i}": "p" * 5000 for i in range(5)}


def _call(service: ServiceProcess, kind: str) -> requests.Response:
    url = service.base_url
    if kind == "400":
        body = _body()
        body["hookInstance"] = SECRET
        return service.hook("facet-order-sign", body)
    if kind == "401":
        return service.hook("facet-order-sign", _body(), auth=False)
    if kind == "403":
        body = hook_body(scenario("dx-first-lumbar-covered"), "order-sign", fhir_server="http://127.0.0.1:9/fhir",
                         token="t")
        return service.hook("facet-order-sign", body)
    if kind == "404-service":
        return service.hook(SECRET, _body())
    if kind == "404-route":
        return requests.get(f"{url}/Patient/{SECRET}", timeout=10)
    if kind == "405":
        return requests.get(f"{url}{SIGN}", timeout=10)
    if kind == "412":
        body = _body()
        del body["prefetch"]["conditions"]
        return service.hook("facet-order-sign", body)
    if kind == "413":
        return service.hook("facet-order-sign", b"{" + b" " * (1024 * 1024 + 10) + b"}")
    if kind == "431":
        return service.session.post(f"{url}{SIGN}", data=b"{}", headers=_oversized_headers(), timeout=10)
    raise AssertionError(kind)


CLASSES = {"400": "bad-request", "401": "jwt-refused", "403": "forbidden", "404-service": "not-found",
           "404-route": "no-such-route", "405": "method-not-allowed", "412": "prefetch-unavailable",
           "413": "body-too-large", "431": "headers-too-large"}


@pytest.mark.parametrize("kind", list(CLASSES))
def test_each_refusal_leaves_exactly_one_row_without_raw_ids(service: ServiceProcess, kind: str) -> None:
    response = _call(service, kind)
    assert response.status_code == int(kind[:3])
    (row,) = _refusals(service, response)
    names = [c[1] for c in _db(service).execute("PRAGMA table_xinfo(refusal)")]
    stored = dict(zip(names, row, strict=True))
    assert stored["status"] == int(kind[:3]) and stored["reason"] == CLASSES[kind]
    assert stored["method"] in ("GET", "POST") and stored["at"] > 0
    assert SECRET not in json.dumps(stored)
    if kind in ("403", "412"):  # the JWT was verified: the client is known
        assert stored["client"] == service.iss and stored["service_id"] == "facet-order-sign"
    if kind == "404-service":
        assert stored["route"] == "/cds-services/<service_id>" and stored["service_id"] is None


def test_an_answered_call_is_not_a_refusal(service: ServiceProcess) -> None:
    response = service.hook("facet-order-sign", _body())
    assert response.status_code == 200 and _refusals(service, response) == []


# ---------------------------------------------------------------- the hash key comes from the environment
def test_a_short_hash_key_stops_start_up_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="at least 32 characters"):
        start_service(tmp_path, extra_env={"CDS_HASH_KEY": "short"})


def test_the_hash_key_file_is_read_and_nothing_is_generated(tmp_path: Path) -> None:
    key_file = tmp_path / "hash.key"
    key_file.write_text("f" * 40 + "\n")
    svc = start_service(tmp_path / "svc", extra_env={"CDS_HASH_KEY_FILE": str(key_file)})
    try:
        assert svc.hook("facet-order-sign", _body(), auth=False).status_code == 401
        assert "random key" not in svc.log()
        stored = _db(svc).execute("SELECT COUNT(*) FROM settings WHERE name = 'hash_key'").fetchone()[0]
        assert stored == 0  # the key is not in the database beside the hashes
    finally:
        svc.stop()


def test_without_a_key_start_up_warns_loudly(service: ServiceProcess) -> None:
    assert "will not survive a restart" in service.log()
