"""asyncua's log records about a connection that is already known to be lost.

When a connection drops, asyncua logs full ERROR tracebacks of its own: "Publish iteration
crashed" every second while a subscribed session waits, and "close_session raised during
disconnect" when we close what is left. The poller already logs the endpoint DOWN once, with
the reason, and "back up" once; the tracebacks only bury that. They are kept as one DEBUG line
each, naming the error, for whoever debugs asyncua itself.
"""

from __future__ import annotations

import logging

# logger name -> start of the messages it logs with a traceback on a lost connection
_NOISY = {
    "asyncua.client.ua_session.UaSession": "Publish iteration crashed",
    "asyncua.client.client": "close_session raised during disconnect",
}


class _TracebackToDebug(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.msg, str) and record.msg.startswith(self.prefix):
            exc = record.exc_info[1]
            record.msg, record.args = "%s: %s: %s", (self.prefix, type(exc).__name__, exc)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            # Handlers do not look at the level again: only a logger set to DEBUG passes it on.
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def quiet_lost_connection_tracebacks() -> None:
    """Idempotent; each filter sits on the logger that makes the record, before any handler."""
    for name, prefix in _NOISY.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _TracebackToDebug) for f in logger.filters):
            logger.addFilter(_TracebackToDebug(prefix))
