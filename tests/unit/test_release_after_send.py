"""A hook call's large objects are freed when the response closes (after it is sent), not when the view returns."""
from __future__ import annotations

import gc
import weakref

from flask import Flask, Response

from cds_service.api.release_after_send import release_after_send


class _Parsed:
    """Stands in for a parsed body (dicts cannot be weakly referenced)."""


def _refs_after_view(app: Flask) -> tuple[Response, weakref.ref[_Parsed]]:
    with app.test_request_context():
        parsed = _Parsed()
        ref = weakref.ref(parsed)
        response = release_after_send(Response("{}"), parsed)
        del parsed  # the view's frame is gone
    return response, ref


def test_objects_live_until_the_response_is_closed_then_are_freed():
    gc.disable()  # freed by reference count alone, as in the worker: no collection may hide a leak
    try:
        response, ref = _refs_after_view(Flask(__name__))
        assert ref() is not None, "freed before the answer was sent"
        response.close()
        assert ref() is None, "still held after the response closed"
    finally:
        gc.enable()


def test_a_response_that_is_never_closed_leaks_nothing():
    response, ref = _refs_after_view(Flask(__name__))
    del response
    gc.collect()  # whatever the request context kept of it: dropping the response must free what it held
    assert ref() is None
