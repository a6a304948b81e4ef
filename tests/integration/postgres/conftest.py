"""Fixtures: one real PostgreSQL cluster per test session, and a fresh database per test."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.integration.postgres.cluster import PostgresCluster, start_cluster, why_no_cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    reason = why_no_cluster()
    if reason:
        pytest.skip(reason)
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of an empty database of its own, so that no test sees another's rows."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield postgres_cluster.create_database(name)
    postgres_cluster.drop_database(name)
