"""Fixtures of the patient-view tests: the extra patients in the shared FHIR server, the sandbox-like stack."""
from __future__ import annotations

import pytest

from cds_service.dev.fhir_server import put_transaction
from tests.conftest import FHIR_TOKEN
from tests.integration.patient_view.stack import extra_patients, sandbox_stack  # noqa: F401 - a fixture
from tests.support.sekmet import load_bundle


@pytest.fixture(scope="session")
def fhir_server_with_extra_patients(fhir_server: str) -> str:
    """The shared SEKMET, plus the patients without an active spinal pain diagnosis."""
    load_bundle(fhir_server, FHIR_TOKEN, put_transaction(extra_patients()))
    return fhir_server
