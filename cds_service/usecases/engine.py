"""The policy engine's front door: the shipped policy library with the shipped checks."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path

from cds_service.evaluation.checks import CHECK_PARAMS
from cds_service.evaluation.clinical import ENGINE_VALUESETS
from cds_service.evaluation.evaluator import evaluate
from cds_service.policy.library import DATA_DIR, PolicyLibrary

__all__ = ["evaluate", "load_library"]


def load_library(
    effective_overrides: Mapping[str, date] | None = None, directory: Path = DATA_DIR
) -> PolicyLibrary:
    """Load and strictly validate every revision (PolicyDataError, naming the file, on bad policy data)."""
    return PolicyLibrary.load(CHECK_PARAMS, directory=directory, effective_overrides=effective_overrides,
                              required_valuesets=ENGINE_VALUESETS)


@lru_cache(maxsize=1)
def default_library() -> PolicyLibrary:
    return load_library()
