"""asyncua's log records about a connection that is already known to be lost.

When a connection drops, asyncua logs full ERROR tracebacks of its own: "Publish iteration
crashed" every second while a subscribed session waits, and "close_session raised during
disconnect" when we close what is left. The poller already logs the endpoint DOWN once, with
the reason, and "back up" once; the tracebacks only bury that. They are kept as one DEBUG line
each, naming the error, for whoever debugs asyncua itself.
"""

from __future__ import annotations

from pdm.logs import demote_to_debug

# logger name -> start of the messages it logs with a traceback on a lost connection
_NOISY = {
    "asyncua.client.ua_session.UaSession": "Publish iteration crashed",
    "asyncua.client.client": "close_session raised during disconnect",
}


def quiet_lost_connection_tracebacks() -> None:
    for name, prefix in _NOISY.items():
        demote_to_debug(name, prefix, lambda r, p=prefix: bool(r.exc_info) and str(r.msg).startswith(p))
