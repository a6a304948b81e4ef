"""CDS_HASH_KEY / CDS_HASH_KEY_FILE (issue 10): the key comes from outside the database, and is long enough."""
from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.settings import Settings, SettingsError

KEY = "0123456789abcdef" * 2


def test_the_key_is_read_from_the_variable_or_the_file(tmp_path: Path) -> None:
    assert Settings.from_env({"CDS_HASH_KEY": KEY}).hash_key == KEY
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")  # a secret file's trailing newline is not part of the key
    assert Settings.from_env({"CDS_HASH_KEY_FILE": str(key_file)}).hash_key == KEY
    assert Settings.from_env({}).hash_key is None


@pytest.mark.parametrize("env, message", [
    ({"CDS_HASH_KEY": "x" * 31}, "CDS_HASH_KEY: the hash key must be at least 32 characters"),
    ({"CDS_HASH_KEY": KEY, "CDS_HASH_KEY_FILE": "/k"}, "not both"),
    ({"CDS_HASH_KEY_FILE": "/nonexistent/key"}, "CDS_HASH_KEY_FILE '/nonexistent/key' cannot be read"),
])
def test_an_unusable_key_is_a_clear_start_up_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.from_env(env)
    assert KEY not in str(caught.value) and "x" * 31 not in str(caught.value)  # never the key itself


def test_a_short_key_in_a_file_is_refused_naming_the_file_variable(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("short")
    with pytest.raises(SettingsError, match="CDS_HASH_KEY_FILE: the hash key must be at least 32"):
        Settings.from_env({"CDS_HASH_KEY_FILE": str(key_file)})


def test_the_warning_reaches_stderr_when_logging_is_not_set_up(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("from pathlib import Path; from cds_service.storage.store import Store; "
            f"Store(Path({str(tmp_path / 'db.sqlite3')!r})).hash_key(None)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "WARNING" in done.stderr and "will not survive a restart" in done.stderr
