"""A deliberately distrustful FHIR REST client for the EHR's `fhirServer`.

Every failure (status >= 400, a redirect, a timeout, a refused connection, a body that is not JSON, not
the expected resource, too big, or a `next` link that leaves the server or never ends) becomes
`FhirUnavailable(reason)`. The reason is short and safe for logs and audit: no token, no body, no query
string (it holds the patient id).

    client = FhirClient("https://ehr.example/fhir", token, shared_session(), FetchLimits())
    conditions = client.search("Condition?patient=pat-1", deadline=time.monotonic() + 3)

Deadlines are `time.monotonic()` instants, so one budget can be shared by many calls.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from cds_service.errors import CdsError, UpstreamError
from cds_service.fhir_access.limits import FetchLimits

FHIR_JSON = "application/fhir+json"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK_BYTES = 64 * 1024
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


SEARCH_PAGE_SIZE = 200  # servers may cap it lower; paging links are followed either way


class FhirAccessError(CdsError):
    """Base of every error `cds_service.fhir_access` raises."""


class FhirUnavailable(UpstreamError, FhirAccessError):
    """The FHIR server could not give us usable data; `reason` is for logs and audit only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_session(*, pool_maxsize: int = 16, trust_env: bool = False) -> requests.Session:
    """A `requests.Session` for FHIR calls: pooled connections, no retries, no cookies.

    `trust_env=False` by default: a `.netrc` entry would replace our Authorization header, and proxy
    variables would send patient data somewhere nobody configured for this service.
    """
    session = requests.Session()
    session.trust_env = trust_env
    # The session is shared by every client and tenant: a cookie set by one EHR must never reach another.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _WatchedAdapter(pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# -- the absolute deadline -------------------------------------------------------------------------
# A socket timeout restarts on every read: a server dripping one byte every 0.5 s never trips it and holds
# a fetch thread for as long as it likes. So each fetch arms a watchdog that shuts the connection's socket
# at the call's deadline; the blocked read then ends at once (EOF), and `_get_json` reports the deadline.


class _Watch:
    """The connection one fetch is using, and whether its deadline has passed (shared with the watchdog)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: HTTPConnection | None = None
        self._expired = False
        self._finished = False

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
            if self._expired:
                _shut(connection)

    def expire(self) -> None:
        """Called by the watchdog timer at the deadline."""
        with self._lock:
            if self._finished:
                return  # the connection may be back in the pool, serving another fetch
            self._expired = True
            if self._connection is not None:
                _shut(self._connection)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._connection = None


_current_watch = threading.local()  # the _Watch of the fetch running on this thread, if any


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = getattr(_current_watch, "watch", None)
        if watch is not None:
            watch.attach(self)  # before any byte is sent or read: headers can drip too
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = getattr(_current_watch, "watch", None)
        if watch is not None:
            watch.attach(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections report themselves to the fetch running on their thread."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


_shared_session: requests.Session | None = None
_shared_session_lock = threading.Lock()


def shared_session() -> requests.Session:
    """The process-wide session (created on first use, so importing this module does no I/O setup)."""
    global _shared_session
    with _shared_session_lock:
        if _shared_session is None:
            _shared_session = new_session()
        return _shared_session


# Told of every FHIR HTTP request: (resource type, "ok" | "error", seconds). app.py installs the metrics one.
RequestObserver = Callable[[str, str, float], None]
_observer: RequestObserver | None = None


def observe_requests(observer: RequestObserver | None) -> None:
    global _observer
    _observer = observer


class FhirClient:
    """Reads and searches one FHIR server on behalf of one hook call. Safe to use from several threads.

    :param base_url: the `fhirServer` of the hook request (already checked against the allow-list).
    :param bearer_token: `fhirAuthorization.access_token`, or None for an open server.
    :raise FhirUnavailable: `base_url` is not an absolute http(s) URL.
    """

    def __init__(
        self,
        base_url: str,
        bearer_token: str | None,
        session: requests.Session | None = None,
        limits: FetchLimits | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        location = _origin_and_path(self.base_url)
        if location is None:
            raise FhirUnavailable("fhirServer is not an absolute http(s) URL")
        self._origin, base_path = location
        # None (a base we cannot normalise) means no `next` link is ever followed
        self._base_segments = _normalised_segments(base_path)
        self._headers = {"Accept": FHIR_JSON}
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        self._session = session if session is not None else shared_session()
        self._limits = limits if limits is not None else FetchLimits()
        # OperationOutcome entries of searchsets: notes about the search, never data
        self.warnings: list[str] = []

    def read(self, path: str, deadline: float) -> dict[str, Any]:
        """GET `{base}/{Type}/{id}`; the answer must be a resource of that type."""
        resource_type = path.split("/", 1)[0]
        resource = self._get_json(f"{self.base_url}/{path}", deadline, what=f"{resource_type} read")
        if resource.get("resourceType") != resource_type:
            raise FhirUnavailable(f"{resource_type} read: answer is not a {resource_type}")
        return resource

    def search(self, relative_query: str, deadline: float) -> list[dict[str, Any]]:
        """GET `{base}/{relative_query}` and every `next` page; returns the resources of all pages."""
        resource_type = relative_query.split("?", 1)[0]
        what = f"{resource_type} search"
        if "_count=" not in relative_query:  # ask for big pages: each extra page is a sequential round trip
            relative_query += ("&" if "?" in relative_query else "?") + f"_count={SEARCH_PAGE_SIZE}"
        url: str | None = f"{self.base_url}/{relative_query}"
        seen_urls: set[str] = set()
        resources: list[dict[str, Any]] = []
        while url is not None:
            if len(seen_urls) == self._limits.max_pages:
                raise FhirUnavailable(f"{what}: more than {self._limits.max_pages} pages")
            seen_urls.add(url)
            bundle = self._get_json(url, deadline, what=what)
            if bundle.get("resourceType") != "Bundle":
                raise FhirUnavailable(f"{what}: answer is not a Bundle")
            resources.extend(self._page_resources(bundle, what))
            if len(resources) > self._limits.max_resources:
                raise FhirUnavailable(f"{what}: more than {self._limits.max_resources} resources")
            url = self._next_url(bundle, what)
            if url in seen_urls:
                raise FhirUnavailable(f"{what}: next link repeats a page already read")
        return resources

    def _page_resources(self, bundle: dict[str, Any], what: str) -> list[dict[str, Any]]:
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise FhirUnavailable(f"{what}: Bundle.entry is not a list")
        resources = []
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            search = entry.get("search")
            search_mode = search.get("mode") if isinstance(search, dict) else None
            if search_mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
                self.warnings.append(_describe_outcome(what, resource))
            else:
                resources.append(resource)
        return resources

    def _next_url(self, bundle: dict[str, Any], what: str) -> str | None:
        links = bundle.get("link") or []
        for link in links if isinstance(links, list) else []:
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                url = urljoin(f"{self.base_url}/", link["url"])
                if not self._is_on_this_server(url):
                    # following it would send the patient's token to a server nobody allow-listed
                    raise FhirUnavailable(f"{what}: next link points outside fhirServer")
                return url
        return None

    def _is_on_this_server(self, url: str) -> bool:
        """Same origin, and the path, read as a server would (decoded, dots resolved), under the base path."""
        location = _origin_and_path(url)
        if location is None or self._base_segments is None:
            return False
        origin, path = location
        segments = _normalised_segments(path)
        if origin != self._origin or segments is None:
            return False
        return segments[: len(self._base_segments)] == self._base_segments

    def _get_json(self, url: str, deadline: float, *, what: str) -> dict[str, Any]:
        started, outcome = time.perf_counter(), "error"
        try:
            document = self._fetch_json(url, deadline, what=what)
            outcome = "ok"
            return document
        finally:
            if _observer is not None:  # the request's latency by resource type ("Condition search" -> Condition)
                _observer(what.split(" ", 1)[0], outcome, time.perf_counter() - started)

    def _fetch_json(self, url: str, deadline: float, *, what: str) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FhirUnavailable(f"{what}: deadline passed")
        watch = _Watch()
        watchdog = threading.Timer(remaining, watch.expire)
        watchdog.daemon = True
        _current_watch.watch = watch
        watchdog.start()
        try:
            # never follow a redirect: it could carry the Authorization header to another host
            with self._session.get(
                url,
                headers=self._headers,
                timeout=(remaining, remaining),
                allow_redirects=False,
                stream=True,
            ) as response:
                if response.status_code >= 300:
                    raise FhirUnavailable(f"{what}: HTTP {response.status_code}")
                body = self._read_body(response, deadline, what)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            if time.monotonic() >= deadline:  # the watchdog shut the socket, or a read timed out at the end
                raise FhirUnavailable(f"{what}: deadline passed while reading") from None
            # `from None`: the library's message holds the URL, and with it the patient id
            raise FhirUnavailable(f"{what}: {_describe_transport_error(error)}") from None
        finally:
            watchdog.cancel()
            watch.finish()
            _current_watch.watch = None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise FhirUnavailable(f"{what}: answer is not JSON") from None
        if not isinstance(document, dict):
            raise FhirUnavailable(f"{what}: answer is not a FHIR resource")
        return document

    def _read_body(self, response: requests.Response, deadline: float, what: str) -> bytes:
        limit = self._limits.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FhirUnavailable(f"{what}: answer larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        # counts decoded bytes, so a small gzip bomb cannot blow up either
        for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise FhirUnavailable(f"{what}: answer larger than {limit} bytes")
            if time.monotonic() > deadline:  # a server dripping bytes never trips the read timeout
                raise FhirUnavailable(f"{what}: deadline passed while reading")
            chunks.append(chunk)
        return b"".join(chunks)


def server_key(base_url: str) -> object:
    """What identifies one FHIR server for its bulkhead: (scheme, host, port), else the URL as given."""
    location = _origin_and_path(base_url)
    return location[0] if location is not None else base_url


def _origin_and_path(url: str) -> tuple[tuple[str, str, int], str] | None:
    """(scheme, host, port) and path of an absolute http(s) URL without user info; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    origin = (parts.scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme])
    return origin, parts.path.rstrip("/")


def _normalised_segments(path: str) -> tuple[str, ...] | None:
    """The path's segments after percent-decoding, or None when a server could read it another way.

    Refused (fail closed): dot segments in any spelling (`..`, `%2e%2e`, `.%2E`, `..;x`), empty segments
    (`//`), backslashes, control characters, and escapes left after one decoding (`%252e`: double-encoded).
    """
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:  # escapes that are not UTF-8: nobody can say what the server makes of them
        return None
    if _PERCENT_ESCAPE.search(decoded) or "\\" in decoded:
        return None
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in decoded):
        return None
    segments = decoded.split("/")[1:]  # the path of a URL with a host is empty or starts with "/"
    if segments and segments[-1] == "":
        segments.pop()  # ".../fhir/" is the same base as ".../fhir"
    if any(segment.split(";", 1)[0] in ("", ".", "..") for segment in segments):
        return None
    return tuple(segments)


def _describe_transport_error(error: Exception) -> str:
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "connection failed"
    return f"transport error ({type(error).__name__})"


def _describe_outcome(what: str, outcome: dict[str, Any]) -> str:
    """`Condition search: server note warning/not-supported`; diagnostics are left out (they can echo PHI)."""
    raw_issues = outcome.get("issue")
    issues: list[Any] = raw_issues if isinstance(raw_issues, list) else []
    notes = sorted(
        {f"{issue.get('severity', '?')}/{issue.get('code', '?')}" for issue in issues if isinstance(issue, dict)}
    )
    return f"{what}: server note {', '.join(notes) or 'without issues'}"
