"""Settings from the environment (contract §2). The only module that reads `os.environ`."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from psycopg import ProgrammingError as PostgresUrlError
from psycopg.conninfo import conninfo_to_dict

from cds_service.errors import ConfigurationError
from cds_service.fhir_access.limits import FetchLimits

DEFAULT_POLICY_URL = "https://www.centene.com/content/dam/centene/policies/clinical-policies/CP.MP.171.pdf"


class SettingsError(ConfigurationError, ValueError):
    """A configuration value is unusable; the message names the variable."""


DatabaseKind = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class DatabaseUrl:
    """CDS_DATABASE_URL, parsed: which backend, and where.

    `location` is the SQLite file path, or the PostgreSQL URL itself (psycopg reads libpq URLs as they are).
    It is kept out of repr: a PostgreSQL URL may carry a password.
    """

    kind: DatabaseKind
    location: str = field(repr=False)

    @property
    def sqlite_path(self) -> Path:
        if self.kind != "sqlite":
            raise SettingsError(f"CDS_DATABASE_URL names a {self.kind} database, not a SQLite file")
        return Path(self.location)

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        scheme, separator, rest = url.partition("://")
        if scheme == "sqlite" and separator:
            return cls._sqlite(rest)
        if scheme in ("postgresql", "postgres") and separator:
            return cls._postgresql(url)
        # Only the scheme is echoed: the rest of a URL may hold credentials.
        shown = f"scheme {scheme!r}" if separator else "a value without a scheme"
        raise SettingsError(f"CDS_DATABASE_URL must be sqlite:///path or postgresql://..., got {shown}")

    @classmethod
    def _sqlite(cls, rest: str) -> DatabaseUrl:
        if not rest.startswith("/"):  # sqlite://host/... : there is no host for a file
            raise SettingsError("CDS_DATABASE_URL: write sqlite:///relative/path or sqlite:////absolute/path")
        path = rest[1:]
        if path in ("", ":memory:"):  # every worker and thread must see the same data: it needs a file
            raise SettingsError("CDS_DATABASE_URL: sqlite:/// needs a file path")
        return cls("sqlite", path)

    @classmethod
    def _postgresql(cls, url: str) -> DatabaseUrl:
        try:
            conninfo_to_dict(url)  # libpq's own parser: a typo fails at start-up, not on first use
        except PostgresUrlError as exc:
            raise SettingsError(f"CDS_DATABASE_URL is not a usable PostgreSQL URL: {exc}") from None
        return cls("postgresql", url)


def revision_effective(value: str | None) -> dict[str, date]:
    """CDS_REVISION_EFFECTIVE ("2026-05=2026-07-01,…"): the plan's own effective dates (the service and the
    `evaluate` command read it alike, so an analyst's answer is the service's)."""
    effective: dict[str, date] = {}
    for item in (value or "").split(","):
        if item.strip():
            rev, _, day = item.partition("=")
            try:
                effective[rev.strip()] = date.fromisoformat(day.strip())
            except ValueError:
                raise SettingsError(f"CDS_REVISION_EFFECTIVE must be YYYY-MM-DD, got {day.strip()!r}") from None
    return effective


# A keyed hash is only as strong as its key: 32 characters at least (e.g. `openssl rand -hex 32`).
MIN_HASH_KEY_CHARS = 32


def _hash_key(value: str | None, file: str | None) -> str | None:
    """CDS_HASH_KEY, or the content of CDS_HASH_KEY_FILE (a mounted secret); None when neither is set.

    The key never comes from the database it protects. Errors name the variable, never the key.
    """
    if value and file:
        raise SettingsError("set CDS_HASH_KEY or CDS_HASH_KEY_FILE, not both")
    name = "CDS_HASH_KEY"
    if file:
        name = "CDS_HASH_KEY_FILE"
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"CDS_HASH_KEY_FILE {file!r} cannot be read: {type(exc).__name__}") from None
    if value is None:
        return None
    if len(value) < MIN_HASH_KEY_CHARS:
        raise SettingsError(f"{name}: the hash key must be at least {MIN_HASH_KEY_CHARS} characters "
                            f"(got {len(value)}); generate one with `openssl rand -hex 32`")
    return value


# Six years: the span commonly applied to HIPAA audit records, which also outlasts claim appeal windows (CRD
# found-37: keep hook logs for disputes). Deleting too early cannot be undone; 0 keeps everything forever.
DEFAULT_AUDIT_RETENTION_DAYS = 2190


def _retention_days(value: str | None) -> int:
    try:
        days = DEFAULT_AUDIT_RETENTION_DAYS if value is None else int(value)
    except ValueError:
        raise SettingsError(f"CDS_AUDIT_RETENTION_DAYS must be a whole number of days, got {value!r}") from None
    if days < 0:
        raise SettingsError("CDS_AUDIT_RETENTION_DAYS must be 0 (keep forever) or a positive number of days")
    return days


DEFAULT_DATABASE_URL = "sqlite:///var/facet-cds.sqlite3"  # a file under the working directory
DEFAULT_DATABASE = DatabaseUrl.parse(DEFAULT_DATABASE_URL)


@dataclass(frozen=True)
class RequestLimits:
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 40
    max_draft_orders: int = 50


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8090
    public_base_url: str = ""  # empty: http://{host}:{port}
    clients_file: str | None = None
    auth_on: bool = True
    dev_fhir_servers: str | None = None
    policy_date: date | None = None
    database: DatabaseUrl = DEFAULT_DATABASE
    database_pool_size: int = 8  # CDS_DATABASE_POOL_SIZE: PostgreSQL connections per worker for the audit
    plan_name: str = "Centene"
    policy_url: str = DEFAULT_POLICY_URL
    pa_needed: str = "auth-needed"
    cors_origins: tuple[str, ...] = ("*",)
    hash_key: str | None = None
    generated_hash_key: str | None = None  # made by the gunicorn master when no key is configured (deploy/)
    admin_token: str | None = None
    admin_session_key: str | None = None  # CDS_ADMIN_SESSION_KEY: signs admin session cookies (shared by replicas)
    admin_session_minutes: int = 30
    trust_forwarded_proto: bool = False  # CDS_TRUST_FORWARDED_PROTO: a TLS proxy's X-Forwarded-Proto/-For count
    patient_view: bool = True
    documentation_app_url: str | None = None
    revision_effective: Mapping[str, date] = field(default_factory=dict)
    fetch: FetchLimits = field(default_factory=FetchLimits)
    requests: RequestLimits = field(default_factory=RequestLimits)
    record_cache_ttl_s: float = 120.0
    audit_retention_days: int = DEFAULT_AUDIT_RETENTION_DAYS  # CDS_AUDIT_RETENTION_DAYS; 0 = keep forever

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def switch(name: str, default: bool) -> bool:
            value = get(name)
            if value is None:
                return default
            if value.lower() not in ("on", "off"):
                raise SettingsError(f"{name} must be 'on' or 'off', got {value!r}")
            return value.lower() == "on"

        def integer(name: str, default: int) -> int:
            value = get(name)
            try:
                number = default if value is None else int(value)
            except ValueError:
                raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
            if number <= 0:
                raise SettingsError(f"{name} must be positive")
            return number

        def iso_date(name: str, value: str | None) -> date | None:
            try:
                return None if value is None else date.fromisoformat(value)
            except ValueError:
                raise SettingsError(f"{name} must be YYYY-MM-DD, got {value!r}") from None

        pa_needed = get("CDS_PA_NEEDED") or "auth-needed"
        if pa_needed not in ("auth-needed", "no-auth"):
            raise SettingsError("CDS_PA_NEEDED must be 'auth-needed' or 'no-auth'")
        effective = revision_effective(get("CDS_REVISION_EFFECTIVE"))
        try:
            fetch = FetchLimits.from_env(env)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        values: dict[str, Any] = dict(
            public_base_url=(get("CDS_PUBLIC_BASE_URL") or "").rstrip("/"),
            clients_file=get("CDS_CLIENTS_FILE"),
            auth_on=switch("CDS_AUTH", True),
            dev_fhir_servers=get("CDS_DEV_FHIR_SERVERS"),
            policy_date=iso_date("CDS_POLICY_DATE", get("CDS_POLICY_DATE")),
            database=DatabaseUrl.parse(get("CDS_DATABASE_URL") or DEFAULT_DATABASE_URL),
            database_pool_size=integer("CDS_DATABASE_POOL_SIZE", cls.database_pool_size),
            audit_retention_days=_retention_days(get("CDS_AUDIT_RETENTION_DAYS")),
            plan_name=get("CDS_PLAN_NAME") or cls.plan_name,
            policy_url=get("CDS_POLICY_URL") or DEFAULT_POLICY_URL,
            pa_needed=pa_needed,
            cors_origins=tuple(o.strip() for o in (get("CDS_CORS_ORIGINS") or "*").split(",") if o.strip()),
            hash_key=_hash_key(get("CDS_HASH_KEY"), get("CDS_HASH_KEY_FILE")),
            generated_hash_key=get("CDS_GENERATED_HASH_KEY"),
            admin_token=get("CDS_ADMIN_TOKEN"),
            admin_session_key=get("CDS_ADMIN_SESSION_KEY"),
            admin_session_minutes=integer("CDS_ADMIN_SESSION_MINUTES", cls.admin_session_minutes),
            trust_forwarded_proto=switch("CDS_TRUST_FORWARDED_PROTO", False),
            patient_view=switch("CDS_PATIENT_VIEW", True),
            documentation_app_url=get("CDS_DOC_APP_URL"),
            revision_effective=effective,
            fetch=fetch,
            requests=RequestLimits(
                max_body_bytes=integer("CDS_MAX_BODY_BYTES", RequestLimits.max_body_bytes),
                max_json_depth=integer("CDS_MAX_JSON_DEPTH", RequestLimits.max_json_depth),
                max_draft_orders=integer("CDS_MAX_DRAFT_ORDERS", RequestLimits.max_draft_orders),
            ),
        )
        values.update(overrides)
        return cls(**values)
