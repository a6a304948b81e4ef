"""Public signing keys of trusted CDS clients: parsing JWK Sets, fetching and caching them.

Keys are looked up by (iss, kid): first in the client's inline `jwks`, then in the JWK Set served at its
configured `jwks_url`. A `jku` header is never fetched as such: the remote set is consulted only when the
token's `jku` is absent or equals that configured URL (otherwise only the pinned inline keys can verify).
Fetches are bounded (timeout, size, no redirects) and rate-limited, so a flood of tokens with random `kid`s
cannot turn the service into a client hammering the JWKS host.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service.errors import ConfigurationError, UpstreamError

if TYPE_CHECKING:
    from cds_service.security.clients import TrustedClient

MAX_JWKS_BYTES = 64 * 1024
DEFAULT_FETCH_TIMEOUT_S = 3.0
MIN_RSA_BITS = 2048

# JWK members that only a private or symmetric key has; a JWK Set that publishes them is a configuration
# mistake we refuse rather than silently use.
_SECRET_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
FetchJwks = Callable[[str], Any]
"""Fetches the JSON document at a JWKS URL; raises `JwksFetchError` (or any exception) on failure."""


class JwksError(ConfigurationError, ValueError):
    """A JWK Set (inline or fetched) is malformed or holds a key we will not use."""


class JwksFetchError(UpstreamError, RuntimeError):
    """A JWKS URL could not be fetched within the limits."""


@dataclass(frozen=True)
class PublicJwk:
    """One verification key of a client, already loaded and checked."""

    kid: str
    public_key: PublicKey
    alg: str | None = None  # the JWK's own `alg` member: when present, the only algorithm it may verify

    def supports(self, alg: str) -> bool:
        """True when this key may verify a token signed with `alg` (the key type decides, not the token)."""
        if self.alg is not None and self.alg != alg:
            return False
        if alg == "ES384":
            return isinstance(self.public_key, ec.EllipticCurvePublicKey) and isinstance(
                self.public_key.curve, ec.SECP384R1
            )
        if alg == "RS384":
            return isinstance(self.public_key, rsa.RSAPublicKey)
        # Any other algorithm is unknown to this module, so no key supports it (fails closed).
        return False


def parse_jwks(document: Any, *, skip_unusable: bool = False) -> dict[str, PublicJwk]:
    """Load a JWK Set into {kid: key}.

    With `skip_unusable`, keys we cannot use (encryption keys, other curves, symmetric keys) are ignored,
    which suits JWK Sets published by others; without it (our own configuration) they are an error.
    Structural problems (not a JWK Set, duplicate or missing `kid`, private members) are always errors.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwksError('a JWK Set must be an object with a "keys" array')
    keys: dict[str, PublicJwk] = {}
    for index, member in enumerate(document["keys"]):
        if not isinstance(member, Mapping):
            raise JwksError(f"keys[{index}] is not an object")
        kid = member.get("kid")
        if not isinstance(kid, str) or not kid:
            raise JwksError(f"keys[{index}] has no kid (needed to pick the key for a token)")
        if kid in keys:
            raise JwksError(f"kid {kid!r} appears twice")
        secret = _SECRET_MEMBERS.intersection(member)
        if secret:
            raise JwksError(f"kid {kid!r} carries private or symmetric key material {sorted(secret)}")
        try:
            keys[kid] = _load_public_jwk(kid, member)
        except JwksError as problem:
            if not skip_unusable:
                raise JwksError(f"kid {kid!r}: {problem}") from None
    return keys


def _load_public_jwk(kid: str, member: Mapping[str, Any]) -> PublicJwk:
    if member.get("use", "sig") != "sig":
        raise JwksError("not a signature key (use != sig)")
    key_ops = member.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise JwksError("key_ops does not allow verify")
    alg = member.get("alg")
    if alg is not None and alg not in ("ES384", "RS384"):
        raise JwksError(f"alg {alg!r} is not one we accept")
    kty = member.get("kty")
    if kty == "EC":
        public_key: PublicKey = _load_ec_p384(member)
    elif kty == "RSA":
        public_key = _load_rsa(member)
    else:
        raise JwksError(f"kty {kty!r} is not EC or RSA")
    return PublicJwk(kid=kid, public_key=public_key, alg=alg)


def _load_ec_p384(member: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    if member.get("crv") != "P-384":
        raise JwksError(f"EC curve {member.get('crv')!r} is not P-384 (ES384)")
    numbers = ec.EllipticCurvePublicNumbers(
        _base64url_int(member, "x"), _base64url_int(member, "y"), ec.SECP384R1()
    )
    try:
        return numbers.public_key()  # checks the point is on the curve
    except ValueError as problem:
        raise JwksError(f"invalid EC point: {problem}") from None


def _load_rsa(member: Mapping[str, Any]) -> rsa.RSAPublicKey:
    numbers = rsa.RSAPublicNumbers(_base64url_int(member, "e"), _base64url_int(member, "n"))
    try:
        key = numbers.public_key()
    except ValueError as problem:
        raise JwksError(f"invalid RSA key: {problem}") from None
    if key.key_size < MIN_RSA_BITS:
        raise JwksError(f"RSA key of {key.key_size} bits is shorter than {MIN_RSA_BITS}")
    return key


def _base64url_int(member: Mapping[str, Any], name: str) -> int:
    value = member.get(name)
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
        raise JwksError(f"member {name!r} is missing or not base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise JwksError(f"member {name!r} is not valid base64url") from None
    return int.from_bytes(raw, "big")


def fetch_jwks_document(
    url: str, *, timeout_s: float = DEFAULT_FETCH_TIMEOUT_S, max_bytes: int = MAX_JWKS_BYTES
) -> Any:
    """GET a JWKS URL: no redirects, no proxies, bounded size, JSON body, all within `timeout_s` in total.

    A socket timeout restarts on every read, so a host dripping one byte per second could hold a fetch (and
    every token waiting for it) for ever; a watchdog shuts the socket at the absolute deadline instead.
    """
    deadline = time.monotonic() + timeout_s
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JwksFetchError(f"{url} is not an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)  # explicit, or "::1" reads as port 1
    except ValueError:
        raise JwksFetchError(f"{url} has an invalid port") from None
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout_s, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout_s)
    watchdog = threading.Timer(timeout_s, _shut, args=(connection,))
    watchdog.daemon = True
    try:
        connection.connect()  # bounded by the socket timeout
        watchdog.start()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", path, headers={"Accept": "application/json, application/jwk-set+json"})
        response = connection.getresponse()  # redirects are not followed: they could point anywhere
        if response.status != 200:
            raise JwksFetchError(f"{url} answered HTTP {response.status}")
        body = bytearray()
        while chunk := response.read1(8192):
            body += chunk
            if len(body) > max_bytes:
                raise JwksFetchError(f"{url} sent more than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise JwksFetchError(f"{url}: deadline of {timeout_s:g} s passed")
    except (OSError, http.client.HTTPException) as problem:
        if time.monotonic() >= deadline:
            raise JwksFetchError(f"{url}: deadline of {timeout_s:g} s passed") from None
        raise JwksFetchError(f"{url}: {type(problem).__name__}") from None
    finally:
        watchdog.cancel()
        connection.close()
    try:
        return json.loads(body)
    except ValueError:
        raise JwksFetchError(f"{url} did not send JSON") from None


def _shut(connection: http.client.HTTPConnection) -> None:
    """Unblock a read in progress on `connection` (called by the deadline watchdog)."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


@dataclass
class _RemoteKeySet:
    """What we know about one client's `jwks_url`."""

    keys: dict[str, PublicJwk] = field(default_factory=dict)
    fetched_at: float | None = None  # last successful fetch
    last_unknown_kid_refetch: float | None = None
    last_failure: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class JwksProvider:
    """Resolves (client, kid) to a verification key; thread-safe.

    - inline keys win and never cause network traffic;
    - the remote set is fetched on first use and again when older than `ttl_s`;
    - an unknown `kid` causes one refetch, then no other unknown-kid refetch for `refetch_cooldown_s`;
    - after a failed fetch, no new attempt for `refetch_cooldown_s` (the stale keys keep being used).
    """

    def __init__(
        self,
        fetch: FetchJwks | None = None,
        *,
        ttl_s: float = 3600.0,
        refetch_cooldown_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch or fetch_jwks_document
        self._ttl_s = ttl_s
        self._cooldown_s = refetch_cooldown_s
        self._clock = clock
        self._remote: dict[tuple[str, str], _RemoteKeySet] = {}
        self._remote_lock = threading.Lock()

    def key_for(self, client: TrustedClient, kid: str, *, may_fetch: bool = True) -> PublicJwk | None:
        """The client's key with this `kid`, or None when it has none (after at most one fetch).

        `may_fetch=False` (a token whose `jku` is not the configured `jwks_url`): inline keys only.
        """
        inline = client.inline_keys.get(kid)
        if inline is not None or client.jwks_url is None or not may_fetch:
            return inline
        remote = self._remote_set(client.iss, client.jwks_url)
        known = remote.keys.get(kid)
        if known is not None and not self._is_stale(remote, self._clock()):
            return known  # no lock: a refetch for someone's unknown kid does not hold up known-kid tokens
        # One fetch at a time per URL: concurrent callers wait for it instead of fetching in parallel.
        with remote.lock:
            now = self._clock()
            if self._is_stale(remote, now) and self._may_retry(remote, now):
                self._refresh(remote, client.jwks_url, now)
            elif kid not in remote.keys and self._may_refetch_for_unknown_kid(remote, now):
                remote.last_unknown_kid_refetch = now
                self._refresh(remote, client.jwks_url, now)
            return remote.keys.get(kid)

    def _remote_set(self, iss: str, url: str) -> _RemoteKeySet:
        with self._remote_lock:
            return self._remote.setdefault((iss, url), _RemoteKeySet())

    def _is_stale(self, remote: _RemoteKeySet, now: float) -> bool:
        return remote.fetched_at is None or now - remote.fetched_at >= self._ttl_s

    def _may_retry(self, remote: _RemoteKeySet, now: float) -> bool:
        return remote.last_failure is None or now - remote.last_failure >= self._cooldown_s

    def _may_refetch_for_unknown_kid(self, remote: _RemoteKeySet, now: float) -> bool:
        if not self._may_retry(remote, now):
            return False
        last = remote.last_unknown_kid_refetch
        return last is None or now - last >= self._cooldown_s

    def _refresh(self, remote: _RemoteKeySet, url: str, now: float) -> None:
        try:
            remote.keys = parse_jwks(self._fetch(url), skip_unusable=True)
        except Exception:  # noqa: BLE001 - any fetch/parse failure means "keep the keys we had"
            remote.last_failure = now
            return
        remote.fetched_at = now
        remote.last_failure = None
