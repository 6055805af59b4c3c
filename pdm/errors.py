"""Errors typed by what the caller does next."""

from __future__ import annotations


class PdmError(Exception):
    """Base class: a failure the service reports to a person in one line."""


# An echoed value longer than this is cut, so a pasted file or a megabyte string stays one readable line.
ECHO_CHARS = 80


class _Echo(str):
    """A value's repr, already cut: ``repr()`` of it is the text itself, so ``{value!r}`` shows it as is."""

    def __repr__(self) -> str:
        return str(self)


def echo(value: object, limit: int = ECHO_CHARS) -> object:
    """``value`` itself when its repr is short, else its repr cut to ``limit`` characters and "…"."""
    if isinstance(value, _Echo):
        return value
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not turn a config error into a traceback
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return value
    return _Echo(text[: limit - 1] + "…")


def one_line(text: str) -> str:
    return " ".join(str(text).split()) if "\n" in str(text) or "\r" in str(text) else str(text)


class ConfigError(PdmError):
    """Fix the configuration: names the file, the field path and the bad value, in one line.

    ``value`` is kept when short and cut (a repr of at most ``ECHO_CHARS`` characters) when long;
    line breaks in the file name or the reason are folded so the message is always one line."""

    def __init__(self, source: str, field: str, value: object, reason: str):
        source, field, reason = one_line(source), one_line(field), one_line(reason)
        self.source, self.field, self.value, self.reason = source, field, echo(value), reason
        super().__init__(f"{source}: {field} = {self.value!r}: {reason}")


class InvalidInput(PdmError):
    """Bad input from a person: names the field and the value."""

    def __init__(self, field: str, value: object, reason: str):
        self.field, self.value = field, value
        super().__init__(f"{field} = {value!r}: {reason}")


class EndpointUnavailable(PdmError):
    """Retry later: the server cannot be reached or dropped the connection."""


class EndpointRefused(PdmError):
    """Ask a person: credentials, certificates or security settings were refused."""


class SchedulerBusy(PdmError):
    """Another scheduler already holds this database's leader lock."""


class ModelError(PdmError):
    """A stored model cannot be used (foreign envelope, mismatched features, not fitted)."""


class NotFound(PdmError):
    """The object does not exist for this company (never says whether it exists elsewhere)."""
