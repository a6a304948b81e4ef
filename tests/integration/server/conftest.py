"""The service started the production way (`python -m cds_service serve`, 2 gunicorn workers), for these tests."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.service_process import ServiceProcess, start_service


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    # A body deadline longer than any test here, so that surviving slow clients is the worker model's doing.
    service = start_service(tmp_path_factory.mktemp("production"),
                            extra_env={"GUNICORN_WORKERS": "2", "CDS_BODY_TIMEOUT_S": "40"})
    yield service
    service.stop()
