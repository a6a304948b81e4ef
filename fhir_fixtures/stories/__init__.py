"""The synthetic scenarios, one module per topic; `ALL` keeps the order of the README table."""
from __future__ import annotations

from fhir_fixtures.builder import Story
from fhir_fixtures.stories import (
    conservative_therapy,
    diagnostic_baseline,
    exclusions,
    levels,
    radiofrequency,
    record_handling,
    regions,
    repeat_blocks,
    revisions,
    technique,
    therapeutic,
)

ALL: list[Story] = [
    *diagnostic_baseline.SCENARIOS,
    *conservative_therapy.SCENARIOS,
    *exclusions.SCENARIOS,
    *levels.SCENARIOS,
    *repeat_blocks.SCENARIOS,
    *radiofrequency.SCENARIOS,
    *therapeutic.SCENARIOS,
    *regions.SCENARIOS,
    *technique.SCENARIOS,
    *revisions.SCENARIOS,
    *record_handling.SCENARIOS,
]
