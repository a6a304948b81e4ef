"""Response JSON written by orjson: the same document as Flask's default provider (keys sorted, compact), in
about a third of the time; an answer's cards and coverage-information are the largest thing a call writes.

Only the spelling can differ: non-ASCII characters are written as UTF-8 rather than as escapes like `\\u00e9` (the
body is `application/json`, UTF-8 by definition). Anything orjson cannot write (an integer beyond 64 bits,
a type it does not know) and any call with formatting arguments (debug indentation) goes to Flask's own.
"""
from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# Dates and dataclasses the way Flask writes them (its `default`: HTTP dates, asdict), not orjson's own.
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if not kwargs or kwargs == {"separators": (",", ":")}:
            try:
                return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode()
            except TypeError:  # orjson.JSONEncodeError is one
                pass
        return super().dumps(obj, **kwargs)
