"""The service as an in-process Flask test client, for suites that replace the network or send thousands of requests."""
from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings


def in_process_client(tmp: Path, **env: str) -> FlaskClient:
    settings = Settings.from_env({
        "CDS_DATABASE_URL": f"sqlite:///{tmp / 'cds.sqlite3'}",
        "CDS_POLICY_DATE": "2026-11-20",
        "CDS_FHIR_TIMEOUT_S": "1",
        **env,
    })
    return create_app(settings).test_client()
