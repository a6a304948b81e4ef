"""`python -m cds_service serve` refuses a bad server configuration with one line, before gunicorn starts."""
from __future__ import annotations

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
