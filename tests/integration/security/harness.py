"""Moved to tests/support/security_harness.py; this name is kept for test files written before the move."""
from tests.support.security_harness import *  # noqa: F403
