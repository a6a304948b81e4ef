"""What the fuzz suites share: the endpoints, reproducible Hypothesis settings, and the rules every answer
must follow whatever was sent (contract §5)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, currently_in_test_context, event, settings
from werkzeug.test import TestResponse

from tests.support.jwt_factory import KeyPair, make_claims
from tests.support.response_checks import check_cds_response
from tests.support.security_harness import Tripwire

PUBLIC_BASE_URL = "https://cds.test.example"
ISS = "https://ehr.test.example"
HOOKS = ("order-select", "order-sign", "patient-view")
KINDS = (*HOOKS, "feedback")
PATHS = {hook: f"/cds-services/facet-{hook}" for hook in HOOKS}
PATHS["feedback"] = f"{PATHS['order-sign']}/feedback"
# Everything else (a 5xx above all, but also a redirect or a 204) is a bug.
EXPECTED_STATUSES = {200, 400, 401, 403, 404, 405, 412, 413}

# Reproducible in CI: the same examples on every run (derandomize) and no example database in the checkout.
_REPRODUCIBLE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings for one fuzz test: reproducible, no deadline, `max_examples` requests."""
    return settings(_REPRODUCIBLE, max_examples=max_examples)


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document shipped with the package (cds_service/api/openapi.json)."""
    return json.loads(files("cds_service.api").joinpath("openapi.json").read_text(encoding="utf-8"))


def token_for(key: KeyPair, kind: str) -> str:
    return key.sign(make_claims(f"{PUBLIC_BASE_URL}{PATHS[kind]}", ISS))


def post(client: FlaskClient, kind: str, data: bytes, content_type: str | None = None,
         headers: dict[str, str] | None = None) -> TestResponse:
    return client.post(PATHS[kind], data=data, content_type=content_type, headers=headers or {})


def check_answer(response: TestResponse, kind: str | None, tripwire: Tripwire) -> None:
    """What every answer owes the caller, whatever was sent (contract §5)."""
    status = response.status_code
    if currently_in_test_context():
        event(f"HTTP {status}")  # the spread of answers: pytest --hypothesis-show-statistics
    assert status in EXPECTED_STATUSES, f"HTTP {status}: {response.get_data()[:300]!r}"
    if response.request.path == "/admin" or response.request.path.startswith("/admin/"):
        # the admin console is same-origin only (issue 10): never CORS headers
        assert not response.headers.get("Access-Control-Allow-Origin"), "CORS headers on an admin page"
    else:
        assert response.headers.get("Access-Control-Allow-Origin"), "CORS headers missing"
    assert tripwire.take() == []
    if response.request.method == "HEAD":
        assert not response.get_data()
    elif status >= 400:
        body = _json(response)
        assert isinstance(body, dict) and body.get("resourceType") == "OperationOutcome", body
        diagnostics = body["issue"][0].get("diagnostics")
        assert isinstance(diagnostics, str) and diagnostics.strip(), body
    elif kind == "feedback":
        assert set(_json(response)) == {"stored", "duplicates", "unknownCards"}
    elif kind in HOOKS:
        assert check_cds_response(_json(response), hook=kind) == []


def _json(response: TestResponse) -> Any:
    assert response.mimetype in ("application/json", "application/fhir+json"), response.mimetype
    return json.loads(response.get_data())
