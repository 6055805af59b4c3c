"""Errors typed by what the caller does next."""

from __future__ import annotations


class PdmError(Exception):
    """Base class: a failure the service reports to a person in one line."""


class ConfigError(PdmError):
    """Fix the configuration: names the file, the field path and the bad value."""

    def __init__(self, source: str, field: str, value: object, reason: str):
        self.source, self.field, self.value, self.reason = source, field, value, reason
        super().__init__(f"{source}: {field} = {value!r}: {reason}")


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
