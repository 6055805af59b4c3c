"""The connector protocol: connect, read a batch, close. Nothing else.

A connector knows how to talk to one kind of server; it does not know about tags,
assets or the database (that is ``pdm.ingest.poller``). Constructors do no I/O.

Optional, outside the Protocol (so a connector or a test fake without it still is one):
``take_notes() -> list[str]``, the device quirks seen since the last call (a value that is not a
number, a clock that cannot be believed: ``pdm.connectors.quirks``), each said once per node and
kind, ``"node <node_id>: <what>"``. The poller calls it after each read through
``getattr(connector, "take_notes", None)``, logs each message once and counts them in health.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pdm.errors import EndpointRefused

GOOD = 0


def is_good(quality: int) -> bool:
    """OPC UA status codes: the top two bits are 00 Good, 01 Uncertain, 10 Bad."""
    return (quality >> 30) == 0


def status_name(quality: int) -> str:
    """``BadNodeIdUnknown`` rather than ``0x80340000``: what a person can search for."""
    try:
        from asyncua.ua.status_codes import get_name_and_doc

        return get_name_and_doc(quality)[0]
    except Exception:  # unknown code or no asyncua: the number is still exact
        return f"0x{quality:08X}"


@dataclass(frozen=True, slots=True)
class Reading:
    node_id: str
    value: float | None
    quality: int
    ts: float  # epoch seconds, already chosen per the endpoint's timestamp_source
    received_at: float


@runtime_checkable
class Connector(Protocol):
    async def connect(self) -> None: ...

    async def read(self, node_ids: Sequence[str]) -> list[Reading]: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Connector: ...

    async def __aexit__(self, *exc) -> None: ...


class ConnectorBase:
    """Gives every connector ``async with`` on top of connect/close."""

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class ConnectorRefused(EndpointRefused):
    """A refusal that says what kind it is and which setting it concerns, so a form can show it
    beside that field without reading its text: ``kind`` is one of ``credentials``, ``certificate``,
    ``security``, ``address``, ``secret``, ``authorization``."""

    def __init__(self, message: str, *, kind: str, field: str):
        super().__init__(message)
        self.kind, self.field = kind, field


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: str
    field: str
    message: str
