"""Issue 9: one typed `Services` per app; gc.freeze() belongs to the process entry points, not the factory."""
from __future__ import annotations

import gc
import os
import subprocess
import sys

from cds_service.api.context import services
from cds_service.usecases.services import Services
from tests.support.in_process import in_process_client


def test_the_app_factory_does_not_freeze_the_garbage_collector(tmp_path):
    before = gc.get_freeze_count()
    client = in_process_client(tmp_path, CDS_AUTH="off")
    assert gc.get_freeze_count() == before  # tests and reloaders build apps: their garbage must stay collectable
    with client.application.app_context():
        svc = services()
    assert isinstance(svc, Services) and svc.service("facet-order-sign") is not None
    assert svc.service("no-such-service") is None


def test_the_wsgi_entry_point_freezes_after_building_the_app(tmp_path):
    env = {**os.environ, "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'cds.sqlite3'}", "CDS_AUTH": "off"}
    done = subprocess.run([sys.executable, "-c", "import gc, cds_service.wsgi; print(gc.get_freeze_count() > 0)"],
                          env=env, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "True"
