"""`python -m cds_service serve` refuses a bad server configuration with one line, before gunicorn starts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("env, message", [
    ({"CDS_BODY_TIMEOUT_S": "0"}, "CDS_BODY_TIMEOUT_S must be more than 0"),
    ({"CDS_BODY_TIMEOUT_S": "soon"}, "CDS_BODY_TIMEOUT_S must be a number of seconds"),
    ({"CDS_DRAIN_SECONDS": "-1"}, "CDS_DRAIN_SECONDS must be between"),
    ({"CDS_LOG_FORMAT": "xml"}, "CDS_LOG_FORMAT must be 'json' or 'text'"),
])
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], message: str) -> None:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_"))}
    done = subprocess.run([sys.executable, "-m", "cds_service", "serve", "--host", "127.0.0.1", "--port", "1"],
                          env={**inherited, "CDS_AUTH": "off", **env}, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("cannot start: ") and message in done.stderr
    assert "Traceback" not in done.stderr and "gunicorn" not in done.stdout + done.stderr


def test_the_container_and_deploy_run_the_same_server_as_serve() -> None:
    # Docker cannot run here, so read what the image would run: `serve`, not a gunicorn line of its own.
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert json.loads(cmd[4:])[:4] == ["python", "-m", "cds_service", "serve"]
    # deploy/gunicorn.conf.py (for `gunicorn -c deploy/gunicorn.conf.py`) is the settings `serve` runs.
    script = ("import runpy, json; from cds_service.server import gunicorn_config as p;"
              "d = runpy.run_path('deploy/gunicorn.conf.py');"
              "names = ['worker_class', 'workers', 'keepalive', 'timeout', 'limit_request_field_size', 'post_worker_init',"
              " 'child_exit', 'on_starting', 'logconfig_dict'];"
              "print(json.dumps({n: d[n] is getattr(p, n) or d[n] == getattr(p, n) for n in names}))")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CDS_", "GUNICORN_"))}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=inherited, capture_output=True, text=True,
                          timeout=60)
    same = json.loads(done.stdout)
    assert all(same.values()), same
