"""The policy engine's front door: the shipped policy library with the shipped checks."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache

from cds_service.evaluation.checks import CHECK_PARAMS
from cds_service.evaluation.evaluator import evaluate
from cds_service.policy.library import PolicyLibrary

__all__ = ["evaluate", "load_library"]


def load_library(effective_overrides: Mapping[str, date] | None = None) -> PolicyLibrary:
    """Load and strictly validate every shipped revision (fails loudly on bad policy data)."""
    return PolicyLibrary.load(CHECK_PARAMS, effective_overrides=effective_overrides)


@lru_cache(maxsize=1)
def default_library() -> PolicyLibrary:
    return load_library()
