"""CDS_DATABASE_URL: which database the service uses, and a clear refusal of what it cannot use."""
from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.settings import DatabaseUrl, Settings, SettingsError


def database(url: str | None) -> DatabaseUrl:
    return Settings.from_env({} if url is None else {"CDS_DATABASE_URL": url}).database


def test_default_is_a_sqlite_file_under_the_working_directory() -> None:
    assert database(None).kind == "sqlite"
    assert database(None).sqlite_path == Path("var/facet-cds.sqlite3")
    assert Settings().database == database(None)


@pytest.mark.parametrize("url, path", [
    ("sqlite:///var/cds.sqlite3", Path("var/cds.sqlite3")),
    ("sqlite:////srv/facet/cds.sqlite3", Path("/srv/facet/cds.sqlite3")),
])
def test_sqlite_urls_name_a_file(url: str, path: Path) -> None:
    assert database(url).kind == "sqlite"
    assert database(url).sqlite_path == path


@pytest.mark.parametrize("url", [
    "postgresql://facet:secret@db.internal:5432/facet_cds?sslmode=require",
    "postgres://db.internal/facet_cds",
    "postgresql:///facet_cds?host=/var/run/postgresql",
])
def test_postgresql_urls_are_passed_to_the_driver_as_given(url: str) -> None:
    assert database(url).kind == "postgresql"
    assert database(url).location == url


def test_the_password_in_a_url_stays_out_of_repr() -> None:
    settings = Settings.from_env({"CDS_DATABASE_URL": "postgresql://facet:hunter2@db/facet"})
    assert "hunter2" not in repr(settings)


def test_a_postgresql_database_has_no_sqlite_path() -> None:
    postgresql = database("postgresql://db/facet")
    with pytest.raises(SettingsError, match="postgresql database"):
        _ = postgresql.sqlite_path


@pytest.mark.parametrize("url, message", [
    ("mysql://root:hunter2@db/facet", "must be sqlite:///path or postgresql://..., got scheme 'mysql'"),
    ("var/facet.sqlite3", "got a value without a scheme"),
    ("sqlite://var/facet.sqlite3", "sqlite:///relative/path or sqlite:////absolute/path"),
    ("sqlite:///", "needs a file path"),
    ("sqlite:///:memory:", "needs a file path"),
    ("postgresql://db/facet?sslmod=require", "not a usable PostgreSQL URL"),
])
def test_unusable_urls_are_refused_at_start_up(url: str, message: str) -> None:
    with pytest.raises(SettingsError, match="CDS_DATABASE_URL") as refused:
        database(url)
    assert message in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_the_postgresql_pool_size_is_read_and_checked() -> None:
    assert Settings.from_env({}).database_pool_size == 8
    assert Settings.from_env({"CDS_DATABASE_POOL_SIZE": "20"}).database_pool_size == 20
    for bad in ("0", "-1", "eight"):
        with pytest.raises(SettingsError, match="CDS_DATABASE_POOL_SIZE"):
            Settings.from_env({"CDS_DATABASE_POOL_SIZE": bad})
