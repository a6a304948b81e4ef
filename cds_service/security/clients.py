"""Trusted CDS clients (CDS_CLIENTS_FILE) and the `fhirServer` allow-lists that stop SSRF.

The clients file is configuration written by an administrator, so it is read strictly: any key we do not
know, any missing or malformed value, is refused with a message that names the problem, rather than
guessed at. See contract.md §2 for the format.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cds_service.errors import ConfigurationError
from cds_service.security.jwks import JwksError, PublicJwk, parse_jwks

_TOP_LEVEL_KEYS = frozenset({"clients"})
_CLIENT_KEYS = frozenset({"iss", "jwks", "jwks_url", "fhir_servers"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Percent-encoded ".", "/" and "\" let a path look like one thing to us and another to the server.
_ENCODED_PATH_TRICKS = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


class ClientConfigError(ConfigurationError, ValueError):
    """The trusted-clients configuration is unusable; the message says what and where."""


# --- URLs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _HttpLocation:
    """A URL reduced to what the allow-list compares: scheme, host, port and path segments."""

    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]

    def is_under(self, base: _HttpLocation) -> bool:
        return (
            (self.scheme, self.host, self.port) == (base.scheme, base.host, base.port)
            and self.segments[: len(base.segments)] == base.segments
        )


def _parse_http_url(url: object) -> _HttpLocation | None:
    """Parse an http(s) URL we are willing to send traffic to, or None for anything doubtful."""
    if not isinstance(url, str) or not url.isascii() or "\\" in url:
        return None
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. a port that is not a number, or brackets that do not close
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if "@" in parts.netloc or parts.query or parts.fragment or "#" in url or "?" in url:
        return None
    if _ENCODED_PATH_TRICKS.search(parts.path):
        return None
    segments = parts.path.split("/")[1:]  # the path of a URL with a host is empty or starts with "/"
    if segments and segments[-1] == "":
        segments.pop()  # ".../fhir/" is the same base as ".../fhir"
    if any(segment in ("", ".", "..") for segment in segments):
        return None
    return _HttpLocation(
        scheme=parts.scheme,
        host=parts.hostname,  # urlsplit lower-cases it and strips IPv6 brackets
        port=port if port is not None else _DEFAULT_PORTS[parts.scheme],
        segments=tuple(segments),
    )


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class FhirServerAllowlist:
    """The `fhirServer` base URLs one caller may make us contact (exact origin, path prefix)."""

    bases: tuple[str, ...] = ()
    any_loopback: bool = False  # dev mode default: any http(s) URL on a loopback host
    _parsed: tuple[_HttpLocation, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = []
        for base in self.bases:
            location = _parse_http_url(base)
            if location is None:
                raise ClientConfigError(
                    f"FHIR server base URL {base!r} is not a plain http(s) URL "
                    "(no user info, query, fragment, backslash, dot segments or encoded dots/slashes)"
                )
            parsed.append(location)
        object.__setattr__(self, "_parsed", tuple(parsed))

    def allows(self, url: str) -> bool:
        location = _parse_http_url(url)
        if location is None:
            return False
        if self.any_loopback and _is_loopback_host(location.host):
            return True
        return any(location.is_under(base) for base in self._parsed)


def dev_allowlist(csv: str | None) -> FhirServerAllowlist:
    """The allow-list used when CDS_AUTH=off: CDS_DEV_FHIR_SERVERS, or else loopback hosts only."""
    bases = tuple(item.strip() for item in (csv or "").split(",") if item.strip())
    if bases:
        return FhirServerAllowlist(bases=bases)
    return FhirServerAllowlist(any_loopback=True)


# --- clients ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedClient:
    """One CDS client we accept JWTs from; validated on construction."""

    iss: str
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    fhir_servers: tuple[str, ...] = ()
    inline_keys: Mapping[str, PublicJwk] = field(init=False, repr=False, compare=False)
    fhir_allowlist: FhirServerAllowlist = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.iss, str) or not self.iss.strip() or self.iss != self.iss.strip():
            raise ClientConfigError(f"iss must be a non-empty string without surrounding spaces, got {self.iss!r}")
        if self.jwks is None and self.jwks_url is None:
            raise ClientConfigError(f"client {self.iss!r}: needs jwks or jwks_url (or both)")
        if self.jwks_url is not None:
            _check_jwks_url(self.iss, self.jwks_url)
        try:
            inline = parse_jwks(self.jwks) if self.jwks is not None else {}
        except JwksError as problem:
            raise ClientConfigError(f"client {self.iss!r}: jwks: {problem}") from None
        if self.jwks is not None and not inline:
            raise ClientConfigError(f"client {self.iss!r}: jwks has no keys")
        if isinstance(self.fhir_servers, str) or not all(isinstance(url, str) for url in self.fhir_servers):
            raise ClientConfigError(f"client {self.iss!r}: fhir_servers must be a list of URL strings")
        try:
            allowlist = FhirServerAllowlist(bases=tuple(self.fhir_servers))
        except ClientConfigError as problem:
            raise ClientConfigError(f"client {self.iss!r}: fhir_servers: {problem}") from None
        object.__setattr__(self, "fhir_servers", tuple(self.fhir_servers))
        object.__setattr__(self, "inline_keys", inline)
        object.__setattr__(self, "fhir_allowlist", allowlist)


def _check_jwks_url(iss: str, url: object) -> None:
    location = _parse_http_url(url)
    if location is None:
        raise ClientConfigError(f"client {iss!r}: jwks_url {url!r} is not a plain http(s) URL")
    # Keys fetched over plain http could be swapped in transit; loopback is allowed for tests and demos.
    if location.scheme != "https" and not _is_loopback_host(location.host):
        raise ClientConfigError(f"client {iss!r}: jwks_url must use https (http only on loopback)")


def fhir_server_allowed(
    client_or_allowlist: TrustedClient | FhirServerAllowlist | Iterable[str], url: str
) -> bool:
    """May the service send requests (with the client's FHIR token) to this `fhirServer`?"""
    if isinstance(client_or_allowlist, TrustedClient):
        return client_or_allowlist.fhir_allowlist.allows(url)
    if isinstance(client_or_allowlist, FhirServerAllowlist):
        return client_or_allowlist.allows(url)
    if isinstance(client_or_allowlist, str):
        raise TypeError("pass a list of base URLs, not a single string")
    return FhirServerAllowlist(bases=tuple(client_or_allowlist)).allows(url)


class ClientRegistry:
    """The trusted clients, by `iss`."""

    def __init__(self, clients: Iterable[TrustedClient] = ()) -> None:
        self._by_iss: dict[str, TrustedClient] = {}
        for client in clients:
            if client.iss in self._by_iss:
                raise ClientConfigError(f"iss {client.iss!r} is configured twice")
            self._by_iss[client.iss] = client

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ClientRegistry:
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except OSError as problem:
            raise ClientConfigError(f"cannot read clients file {os.fspath(path)!r}: {problem.strerror}") from None
        except ValueError as problem:
            raise ClientConfigError(f"clients file {os.fspath(path)!r} is not valid JSON: {problem}") from None
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: Any) -> ClientRegistry:
        if not isinstance(document, dict):
            raise ClientConfigError('the clients file must be a JSON object {"clients": [...]}')
        _refuse_unknown_keys(document, _TOP_LEVEL_KEYS, "the clients file")
        entries = document.get("clients")
        if not isinstance(entries, list):
            raise ClientConfigError('the clients file needs a "clients" array')
        return cls(_client_from_entry(index, entry) for index, entry in enumerate(entries))

    def get(self, iss: str) -> TrustedClient | None:
        return self._by_iss.get(iss)

    def __contains__(self, iss: object) -> bool:
        return iss in self._by_iss

    def __iter__(self) -> Iterator[TrustedClient]:
        return iter(self._by_iss.values())

    def __len__(self) -> int:
        return len(self._by_iss)


def _client_from_entry(index: int, entry: Any) -> TrustedClient:
    where = f"clients[{index}]"
    if not isinstance(entry, dict):
        raise ClientConfigError(f"{where} is not an object")
    _refuse_unknown_keys(entry, _CLIENT_KEYS, where)
    if "iss" not in entry:
        raise ClientConfigError(f"{where} has no iss")
    jwks = entry.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise ClientConfigError(f"{where}: jwks must be a JWK Set object")
    jwks_url = entry.get("jwks_url")
    if jwks_url is not None and not isinstance(jwks_url, str):
        raise ClientConfigError(f"{where}: jwks_url must be a string")
    fhir_servers = entry.get("fhir_servers", [])
    if not isinstance(fhir_servers, list):
        raise ClientConfigError(f"{where}: fhir_servers must be a list of URL strings")
    try:
        return TrustedClient(entry["iss"], jwks=jwks, jwks_url=jwks_url, fhir_servers=tuple(fhir_servers))
    except ClientConfigError as problem:
        raise ClientConfigError(f"{where}: {problem}") from None


def _refuse_unknown_keys(entry: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ClientConfigError(f"{where}: unknown key(s) {unknown}; expected only {sorted(known)}")
