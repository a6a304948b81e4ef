"""Moved to tests/support/jwt_factory.py; this name is kept for test files written before the move."""
from tests.support.jwt_factory import *  # noqa: F403
