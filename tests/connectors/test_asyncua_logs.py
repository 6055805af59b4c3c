"""asyncua's tracebacks about a connection already lost: one DEBUG line, and only when asked for."""

import logging

from pdm.connectors.asyncua_logs import quiet_lost_connection_tracebacks


def _log_crash(name: str, message: str) -> None:
    try:
        raise ConnectionError("connection lost")
    except ConnectionError:
        logging.getLogger(name).exception(message)


def test_lost_connection_tracebacks_are_dropped_at_warning_and_one_line_at_debug(caplog):
    quiet_lost_connection_tracebacks()
    quiet_lost_connection_tracebacks()  # twice: still one filter
    session = "asyncua.client.ua_session.UaSession"
    assert len(logging.getLogger(session).filters) == 1
    with caplog.at_level(logging.WARNING, logger="asyncua"):
        _log_crash(session, "Publish iteration crashed; retrying in 1s")
        _log_crash("asyncua.client.client", "close_session raised during disconnect; continuing teardown")
        _log_crash("asyncua.client.client", "something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]
    assert caplog.records[0].exc_info  # other errors keep their traceback
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="asyncua"):
        _log_crash(session, "Publish iteration crashed; retrying in 1s")
    [record] = caplog.records
    assert record.levelno == logging.DEBUG and record.exc_info is None
    assert record.getMessage() == "Publish iteration crashed; retrying in 1s (ConnectionError: connection lost)"
