"""The one error of the policy data: a file is malformed, named with the problem (and the criterion)."""
from __future__ import annotations

from cds_service.errors import ConfigurationError


class PolicyDataError(ConfigurationError, ValueError):
    """A policy data file is malformed. The message names the file and the problem."""
