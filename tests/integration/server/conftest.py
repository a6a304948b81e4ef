"""The service started the production way (`python -m cds_service serve`), for these tests."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.service_process import ServiceProcess, start_service


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One worker (the hardest case for slow clients: nowhere else to go), and a body deadline longer than
    any test here, so that surviving slow clients is the worker model's doing, not the deadline's."""
    service = start_service(tmp_path_factory.mktemp("production"),
                            extra_env={"GUNICORN_WORKERS": "1", "CDS_BODY_TIMEOUT_S": "40"})
    yield service
    service.stop()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """Two workers (metrics must add up over them) and a short body deadline, 2 s."""
    service = start_service(tmp_path_factory.mktemp("two-workers"),
                            extra_env={"GUNICORN_WORKERS": "2", "CDS_BODY_TIMEOUT_S": "2"})
    yield service
    service.stop()
