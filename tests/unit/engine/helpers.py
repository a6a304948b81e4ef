"""Moved to tests/support/criteria_tables.py; this name is kept for test files written before the move."""
from tests.support.criteria_tables import *  # noqa: F403
