"""The one error of the policy data: a file is malformed, named with the problem (and the criterion)."""
from __future__ import annotations


class PolicyDataError(ValueError):
    """A policy data file is malformed. The message names the file and the problem."""
