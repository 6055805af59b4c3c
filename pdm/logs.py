"""Other libraries' log records demoted to DEBUG where our own log already says it better.

A filter on the logger that makes the record (before any handler) rewrites a matching record
as one DEBUG line (a traceback becomes its exception's type and message) and lets it through
only when that logger is set to DEBUG: handlers do not look at a record's level again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable


class _Demote(logging.Filter):
    def __init__(self, key: str, match: Callable[[logging.LogRecord], bool]):
        super().__init__()
        self.key, self.match = key, match

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.match(record):
            return True
        if record.exc_info:
            exc = record.exc_info[1]
            record.msg, record.args = "%s (%s: %s)", (record.getMessage(), type(exc).__name__, exc)
            record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def demote_to_debug(logger_name: str, key: str, match: Callable[[logging.LogRecord], bool]) -> None:
    """Idempotent per ``key``: installing the same demotion twice leaves one filter."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _Demote) and f.key == key for f in logger.filters):
        logger.addFilter(_Demote(key, match))
