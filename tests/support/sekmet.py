"""Start the real SEKMET FHIR R4 server (sekmet-fhir 0.1.1) on loopback for integration tests.

    base_url, stop = start_sekmet(tmp_path)            # bearer auth on, simulator off
    load_bundle(base_url, "test-token", transaction_bundle)
    ...
    stop()

It binds 127.0.0.1 on a free port and keeps its SQLite file and log in `tmp_dir`.
See ecosystem.md §A for the settings and SEKMET's quirks.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

FHIR_JSON = "application/fhir+json"
_START_TIMEOUT_S = 30.0


def start_sekmet(tmp_dir: Path | str, token: str = "test-token") -> tuple[str, Callable[[], None]]:
    """Start SEKMET with bearer `token` required; returns (base_url, stop) once `/metadata` answers.

    :raise RuntimeError: it did not start within 30 s (the message ends with its log).
    """
    directory = Path(tmp_dir)
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_loopback_port()
    base_url = f"http://127.0.0.1:{port}/fhir"
    settings = directory / "settings.yaml"
    # the simulator would act on our MedicationRequests by itself
    settings.write_text(f"server_auth: {{types: [bearer], tokens: [{token}]}}\nsimulator: {{enabled: false}}\n")
    log_path = directory / "sekmet.log"
    env = dict(os.environ, SEKMET_DB=str(directory / "fhir.db"), SEKMET_BASE_URL=base_url)
    executable = Path(sys.executable).with_name("sekmet")
    command = [str(executable), "serve", "--config", str(settings), "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, cwd=directory, stdout=log, stderr=subprocess.STDOUT)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    try:
        _wait_for_metadata(base_url, token, process)
    except RuntimeError as error:
        stop()
        raise RuntimeError(f"{error}\n--- sekmet.log ---\n{log_path.read_text()[-2000:]}") from None
    return base_url, stop


def load_bundle(base_url: str, token: str, bundle: dict[str, Any]) -> dict[str, Any]:
    """POST a transaction or batch Bundle; returns the response Bundle.

    :raise RuntimeError: the server refused it or an entry failed (the message has the outcome).
    """
    response = requests.post(
        base_url,
        json=bundle,
        headers={"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
        timeout=30,
    )
    if response.status_code >= 300:
        raise RuntimeError(f"loading the bundle failed: HTTP {response.status_code}: {response.text[:2000]}")
    answer: dict[str, Any] = response.json()
    failed = [
        entry["response"]
        for entry in answer.get("entry", [])
        if not str(entry.get("response", {}).get("status", "")).startswith("2")
    ]
    if failed:
        raise RuntimeError(f"loading the bundle failed for {len(failed)} entries: {failed[:3]}")
    return answer


def _wait_for_metadata(base_url: str, token: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sekmet exited with code {process.returncode}")
        try:
            if requests.get(f"{base_url}/metadata", headers=headers, timeout=1).ok:
                return
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"sekmet did not answer {base_url}/metadata within {_START_TIMEOUT_S:.0f} s")


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
