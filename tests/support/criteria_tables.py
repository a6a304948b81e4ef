"""What the engine tables of tests/unit/engine share: the four criterion outcomes, the 2019 what-if, the usual
record (a patient with Coverage and lumbar spondylosis for 8 months)."""
from __future__ import annotations

from typing import Any

from tests.support.fhir_builders import condition, coverage, months_ago, patient

MET, NOT_MET, DOC, NA = "met", "not-met", "needs-documentation", "not-applicable"
R2019 = {"revision": "2019"}  # keyword arguments that evaluate a table row under the 2019 revision


def base() -> list[dict[str, Any]]:
    return [patient(), coverage(), condition("M47.816", months_ago(8))]
