"""Moved to tests/support/hook_bodies.py; this name is kept for test files written before the move."""
from tests.support.hook_bodies import *  # noqa: F403
