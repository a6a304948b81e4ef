"""The admin surface over real HTTP (issue 10): sign-in rate limit and its metric, cookie flags, expiry and
sign-out, the minimum token length, security headers, no CORS."""
from __future__ import annotations

import re
import time

import pytest
import requests

from tests.support.service_process import start_service

TOKEN = "hardening-admin-token-0123456789"
# One worker: the sign-in limit is per process (README), so the count below is exact.
ONE_WORKER = {"GUNICORN_WORKERS": "1", "CDS_ADMIN_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def admin_service(tmp_path_factory):
    service = start_service(tmp_path_factory.mktemp("admin-hardening"),
                            extra_env={**ONE_WORKER, "CDS_TRUST_FORWARDED_PROTO": "on"})
    yield service
    service.stop()


def _sign_in(service, token: str = TOKEN, **headers: str) -> requests.Response:
    return requests.post(f"{service.base_url}/admin/login", data={"token": token}, headers=headers,
                         allow_redirects=False, timeout=10)


def _metric(service, outcome: str) -> float:
    text = service.get("/metrics").text
    found = re.search(rf'^cds_admin_sign_ins_total\{{outcome="{outcome}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_sign_in_attempts_are_rate_limited_per_address_and_counted(admin_service):
    address = {"X-Forwarded-For": "203.0.113.7"}  # trusted proxy setting: the hop the proxy appended
    before = _metric(admin_service, "rate-limited")
    for _ in range(5):
        assert _sign_in(admin_service, "wrong-token-wrong-token", **address).status_code == 401
    refused = _sign_in(admin_service, **address)  # even the right token, once over the limit
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Set-Cookie" not in refused.headers
    assert "Too many sign-in attempts" in refused.text
    assert _metric(admin_service, "rate-limited") == before + 1
    assert _metric(admin_service, "wrong-token") >= 5
    # another address is not held back by that one
    assert _sign_in(admin_service, **{"X-Forwarded-For": "203.0.113.8"}).status_code == 303


def test_wrong_bearer_tokens_count_against_the_same_limit(admin_service):
    address = {"X-Forwarded-For": "203.0.113.9"}
    for _ in range(5):
        wrong = admin_service.get("/admin/api/audit", headers={**address, "Authorization": "Bearer wrong-wrong-wrong"})
        assert wrong.status_code == 401
    refused = admin_service.get("/admin/api/audit", headers={**address, "Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert _sign_in(admin_service, **address).status_code == 429  # the form too, from that address
    # the right token from elsewhere is never held back, however often it is used
    for _ in range(8):
        assert admin_service.get("/admin/api/audit", headers={"X-Forwarded-For": "203.0.113.10",
                                                             "Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_session_cookie_is_httponly_strict_expiring_and_secure_behind_tls(admin_service):
    plain = _sign_in(admin_service, **{"X-Forwarded-For": "203.0.113.20"})
    cookie = plain.headers["Set-Cookie"]
    assert plain.status_code == 303
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert re.search(r"Max-Age=1800\b", cookie) and "Expires=" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    behind_tls = _sign_in(admin_service, **{"X-Forwarded-For": "203.0.113.21", "X-Forwarded-Proto": "https"})
    assert "Secure" in behind_tls.headers["Set-Cookie"]
    # the cookie is not the token, nor derived from it in a way that shows
    assert TOKEN not in cookie


def test_sign_out_ends_the_session_and_a_forged_cookie_is_refused(admin_service):
    browser = requests.Session()
    browser.post(f"{admin_service.base_url}/admin/login", data={"token": TOKEN},
                 headers={"X-Forwarded-For": "203.0.113.30"}, timeout=10)
    assert 'id="calls"' in browser.get(f"{admin_service.base_url}/admin", timeout=10).text
    out = browser.post(f"{admin_service.base_url}/admin/logout", allow_redirects=False, timeout=10)
    assert out.status_code == 303
    assert re.search(r"facet_cds_admin=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)", out.headers["Set-Cookie"])
    assert 'id="calls"' not in browser.get(f"{admin_service.base_url}/admin", timeout=10).text
    forged = requests.get(f"{admin_service.base_url}/admin/api/audit", cookies={"facet_cds_admin": "eyJ0IjoiMSJ9.x.y"},
                          timeout=10)
    assert forged.status_code == 401


def test_admin_pages_carry_security_headers_and_no_cors(admin_service):
    browser = requests.Session()
    browser.post(f"{admin_service.base_url}/admin/login", data={"token": TOKEN},
                 headers={"X-Forwarded-For": "203.0.113.40"}, timeout=10)
    origin = {"Origin": "https://evil.example"}
    for path in ("/admin", "/admin/calls/999999", "/admin/api/audit", "/admin/nowhere"):
        response = browser.get(f"{admin_service.base_url}{path}", headers=origin, timeout=10)
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], path
    page = browser.get(f"{admin_service.base_url}/admin", headers=origin, timeout=10)
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.text  # no inline script (only src= and a JSON data block)
    preflight = requests.options(f"{admin_service.base_url}/admin/api/audit",
                                 headers={**origin, "Access-Control-Request-Method": "GET"}, timeout=10)
    assert "Access-Control-Allow-Origin" not in preflight.headers
    # the hook endpoints keep their CORS (contract §3)
    assert "Access-Control-Allow-Origin" in requests.get(f"{admin_service.base_url}/cds-services", headers=origin,
                                                         timeout=10).headers


def test_the_charting_library_is_served_from_the_package(admin_service):
    script = requests.get(f"{admin_service.base_url}/admin/static/vendor/chartjs/chart.umd.min.js", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    assert "Chart.js v4" in script.text[:200]


def test_a_short_admin_token_leaves_admin_disabled_with_a_warning(tmp_path):
    service = start_service(tmp_path, extra_env={"CDS_ADMIN_TOKEN": "short-token"})
    try:
        assert service.get("/admin").status_code == 404
        assert _sign_in(service, "short-token").status_code == 404
        deadline = time.monotonic() + 5
        while "below the minimum of 16" not in service.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "CDS_ADMIN_TOKEN is 11 characters, below the minimum of 16" in service.log()
    finally:
        service.stop()


def test_the_sign_in_limiter_forgets_old_failures_and_stays_bounded():
    from cds_service.security.admin_session import SignInLimiter

    limiter = SignInLimiter(attempts=2, window_s=60, max_addresses=100)
    limiter.failed("a", now=0)
    assert limiter.retry_after("a", now=0.5) == 0
    limiter.failed("a", now=1)
    assert limiter.retry_after("a", now=2) == 59
    assert limiter.retry_after("b", now=2) == 0  # per address
    assert limiter.retry_after("a", now=61) == 0  # the first failure left the window
    for n in range(1000):  # an address sweep cannot grow memory past the cap
        limiter.failed(f"10.0.{n // 256}.{n % 256}", now=70)
    assert len(limiter) == 100


def _config(token: str, session_s: int = 1800):
    from cds_service.security.admin_session import AdminConfig

    return AdminConfig(token=token, session_key="fixed-test-key", session_s=session_s, public_https=False,
                       trust_forwarded_proto=False)


def test_a_session_expires_and_a_new_admin_token_ends_old_sessions():
    from cds_service.security.admin_session import Sessions

    short = Sessions(_config(TOKEN, session_s=1))
    cookie = short.issue()
    assert short.valid(cookie)
    time.sleep(2.1)  # itsdangerous counts whole seconds
    assert not short.valid(cookie)
    fresh = Sessions(_config(TOKEN)).issue()
    assert Sessions(_config(TOKEN)).valid(fresh)
    assert not Sessions(_config(TOKEN + "-rotated")).valid(fresh)  # same signing key, another token


def test_the_session_key_is_random_not_derived_from_the_admin_token():
    from cds_service.security.admin_session import AdminConfig

    def key(hash_key: bytes | None) -> str:
        return AdminConfig.build(token=TOKEN, session_key=None, hash_key=hash_key, session_minutes=30,
                                 base_url="http://127.0.0.1:1", trust_forwarded_proto=False).session_key

    assert key(None) != key(None)  # no shared secret: a fresh random key per process
    assert key(b"a" * 32) == key(b"a" * 32) != key(b"b" * 32)  # shared by workers with the same hash key
    assert TOKEN not in key(b"a" * 32)
