"""Admin sign-in mechanics: who may open /admin, the session cookie, the sign-in rate limit, the page headers.

- Admin is enabled only by a CDS_ADMIN_TOKEN of at least MIN_ADMIN_TOKEN_CHARS; a shorter one leaves it
  disabled with a loud start-up warning (a guessable token on a page of audit data is worse than none).
- The session cookie is signed (itsdangerous, Flask's own dependency) with a random secret: CDS_ADMIN_SESSION_KEY
  when set, else a key derived (HMAC, own label) from the service's patient-hash key, which is already a
  random secret every worker of a deployment shares (CDS_HASH_KEY, or the one the gunicorn master made).
  Never derived from the admin token: knowing the token must not let anyone mint cookies. The cookie
  carries a digest of the token, so changing the token ends every session.
- Cookie: HttpOnly, SameSite=Strict, Path=/admin, Max-Age = the session length, and Secure when the service
  is served over TLS (CDS_PUBLIC_BASE_URL https, or X-Forwarded-Proto: https from a proxy trusted by
  CDS_TRUST_FORWARDED_PROTO=on).
- Sign-in attempts per client address are limited (a sliding window in a bounded LRU map; per worker process).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

log = logging.getLogger("cds_service.admin")

MIN_ADMIN_TOKEN_CHARS = 16
COOKIE_NAME = "facet_cds_admin"
COOKIE_PATH = "/admin"

# Admin pages: scripts and styles only from the package itself (no inline code), never framed, never cached.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                "Access-Control-Max-Age", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers")


def _loud(message: str) -> None:
    log.warning(message)
    if not logging.getLogger().hasHandlers() or sys.stderr.isatty():
        print(f"\n  !!! WARNING: {message}\n", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class AdminConfig:
    token: str | None  # None: admin disabled
    session_key: str
    session_s: int
    public_https: bool
    trust_forwarded_proto: bool

    @classmethod
    def build(cls, *, token: str | None, session_key: str | None, hash_key: bytes | None,
              session_minutes: int, base_url: str, trust_forwarded_proto: bool) -> AdminConfig:
        if token and len(token) < MIN_ADMIN_TOKEN_CHARS:
            _loud(f"CDS_ADMIN_TOKEN is {len(token)} characters, below the minimum of {MIN_ADMIN_TOKEN_CHARS}: "
                  "the admin console and admin API stay DISABLED. Use e.g. `openssl rand -hex 24`")
            token = None
        key = session_key
        if not key and hash_key:
            key = hmac.new(hash_key, b"facet-cds admin session cookie", hashlib.sha256).hexdigest()
        return cls(token=token, session_key=key or secrets.token_hex(32), session_s=session_minutes * 60,
                   public_https=base_url.lower().startswith("https://"), trust_forwarded_proto=trust_forwarded_proto)

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def token_matches(self, presented: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def secure_cookie(self, forwarded_proto: str | None) -> bool:
        if self.public_https:
            return True
        return self.trust_forwarded_proto and (forwarded_proto or "").split(",")[0].strip().lower() == "https"


class Sessions:
    """Issues and checks signed session cookies. The payload: a digest of the token (a new token ends old
    sessions) and a random id; the signature's timestamp gives the expiry."""

    def __init__(self, config: AdminConfig) -> None:
        self._config = config
        self._serializer = URLSafeTimedSerializer(config.session_key, salt="facet-cds-admin-session")

    def _token_digest(self) -> str:
        assert self._config.token is not None
        return hashlib.sha256(b"facet-cds-admin-token:" + self._config.token.encode()).hexdigest()[:16]

    def issue(self) -> str:
        return self._serializer.dumps({"t": self._token_digest(), "s": secrets.token_urlsafe(12)})

    def valid(self, cookie: str | None) -> bool:
        if not cookie or not self._config.enabled:
            return False
        try:
            payload = self._serializer.loads(cookie, max_age=self._config.session_s)
        except BadSignature:  # includes SignatureExpired
            return False
        return isinstance(payload, dict) and hmac.compare_digest(str(payload.get("t", "")), self._token_digest())


class SignInLimiter:
    """After `attempts` failed sign-ins (form or Bearer) from one address within `window_s`, that address is
    refused, right token or not, until the oldest failure leaves the window. Memory is bounded by
    `max_addresses` (least recently seen forgotten first). Successes are not counted: a script using the
    API with the right token is never held back."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0, max_addresses: int = 10_000) -> None:
        self._attempts = attempts
        self._window_s = window_s
        self._max = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.pop(address, None) or deque(maxlen=self._attempts)
        while times and now - times[0] >= self._window_s:
            times.popleft()
        self._failures[address] = times  # most recently seen last
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)
        return times

    def retry_after(self, address: str, now: float | None = None) -> int:
        """0 when the address may try; else the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self._attempts:
                return 0
            return max(1, int(self._window_s - (now - times[0])) + 1)

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(address, now).append(now)

    def __len__(self) -> int:
        return len(self._failures)


def client_address(remote_addr: str | None, forwarded_for: str | None, trust_forwarded: bool) -> str:
    """The address a limit applies to: the peer, or (behind a trusted proxy) the hop the proxy appended last."""
    if trust_forwarded and forwarded_for:
        return forwarded_for.split(",")[-1].strip()[:64] or (remote_addr or "?")
    return remote_addr or "?"
