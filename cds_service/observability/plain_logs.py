"""Log lines fit for files: no terminal colour codes, and one record is one line.

Werkzeug colours its request and start-up lines with ANSI escapes whatever the stream is, so a redirected
`make run` or `serve` log filled with `\\x1b[33m`. Control characters left in a message (CR/LF from a client
value) are escaped, so no one can forge a log line; tracebacks keep their lines.
"""
from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # CSI sequences: colours, bold, cursor moves
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def without_colour(text: str) -> str:
    """`text` without ANSI colour codes (JSON lines escape the other control characters themselves)."""
    return _ANSI.sub("", text)


def plain(text: str) -> str:
    """`text` without colour codes, its other control characters escaped (`\\n`, `\\x1b`, ...)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], _ANSI.sub("", text))


class PlainFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # the message part only: tracebacks come after
        record.message = plain(record.message)
        return super().formatMessage(record)


def configure(level: int = logging.INFO) -> None:
    """The root logger for `serve` and the demo: stderr, plain lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(PlainFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
