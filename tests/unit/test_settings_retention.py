"""CDS_AUDIT_RETENTION_DAYS: a documented default, 0 = keep forever, anything else unusable is a clear error."""
from __future__ import annotations

import pytest

from cds_service.settings import DEFAULT_AUDIT_RETENTION_DAYS, Settings, SettingsError


def test_the_default_keeps_six_years() -> None:
    assert Settings.from_env({}).audit_retention_days == DEFAULT_AUDIT_RETENTION_DAYS == 2190


@pytest.mark.parametrize(("value", "days"), [("0", 0), ("30", 30), (" 365 ", 365), ("", 2190)])
def test_retention_days_are_read(value: str, days: int) -> None:
    assert Settings.from_env({"CDS_AUDIT_RETENTION_DAYS": value}).audit_retention_days == days


@pytest.mark.parametrize("value", ["-1", "1.5", "forever", "30d"])
def test_unusable_retention_stops_start_up_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="CDS_AUDIT_RETENTION_DAYS"):
        Settings.from_env({"CDS_AUDIT_RETENTION_DAYS": value})
