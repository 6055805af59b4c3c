"""Device quirks kept honest: what a reading's value is, and when it was taken.

Servers in the field send things that are not numbers where a number is mapped (NaN from a
failed division in the PLC, a string "ERR", an array, a DateTime, a ByteString, a Null), and
stamp values with clocks that are wrong (1970 or 1601 after a battery loss, the same time for
ever, a day ahead after a time-zone mix-up). Stored as they come, those become Good readings
that are not data (NULL or inf, which stops a model from training) and times that are not
times (a reading a day in the future, or many values on one key, of which only the first is
kept). Here each one is stored as what it is:

- ``classify_value``: a finite number (a bool is 0/1) passes; anything else has no value and
  a Bad status saying why (``BadOutOfRange``, ``BadNoValue``, ``BadTypeMismatch``), so it is
  kept for the record and never used for training or scoring.
- ``TimestampPolicy``: one per connector; picks each reading's time per the endpoint's
  ``timestamp_source`` and falls back, per ``timestamp_fallback``, when that time is missing,
  impossible, too far ahead or stuck. A reading is never dropped and never post-dated.
- ``Notes``: each new problem said once per node and kind, for the poller to log and count.

Pure functions and plain state: no I/O, no clock (the receive time is passed in).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Literal

from asyncua.ua import StatusCodes

from pdm.connectors.base import status_name

# Not a finite number: a NaN or an infinity is outside any range a sensor has.
BAD_OUT_OF_RANGE = StatusCodes.BadOutOfRange
# A Null where a value should be: OPC UA's code for "the variable has no value". (BadNoData is for
# a history time range without data, and BadWaitingForInitialData is for the server to set while
# it waits on its device: neither is what a Good status with a Null says.)
BAD_NO_VALUE = StatusCodes.BadNoValue
# Anything else (a string, an array, a DateTime, a ByteString, a structure): not a number.
BAD_TYPE_MISMATCH = StatusCodes.BadTypeMismatch

# A clock before this is a reset clock (1970, or OPC UA's own 1601 "no time"), not a time.
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def classify_value(raw: object) -> tuple[float | None, int | None, str | None]:
    """``(value, status to store instead, why)`` for a value read where a number is mapped.

    A finite number (int, float; a bool as 0.0/1.0) is ``(float, None, None)``. Anything else has
    no value, the Bad status that says why, and a short reason naming what came ("NaN", "+inf",
    "a string", "an array of 3"). The caller applies the status only where the server said the
    value was fine (``honest_status``): a server's own Bad status is the better reason.
    """
    if isinstance(raw, bool):
        return float(raw), None, None
    if isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:  # an int beyond a double (not an OPC UA type, but Python allows it)
            return None, BAD_OUT_OF_RANGE, "an integer too large for a number"
        if math.isnan(value):
            return None, BAD_OUT_OF_RANGE, "NaN"
        if math.isinf(value):
            return None, BAD_OUT_OF_RANGE, "+inf" if value > 0 else "-inf"
        return value, None, None
    if raw is None:
        return None, BAD_NO_VALUE, "no value (Null)"
    return None, BAD_TYPE_MISMATCH, _what(raw)


def _what(raw: object) -> str:
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, (bytes, bytearray)):
        return f"a ByteString of {len(raw)} bytes"
    if isinstance(raw, (list, tuple)):
        return f"an array of {len(raw)}"
    if isinstance(raw, datetime):
        return "a DateTime"
    return f"a {type(raw).__name__}"  # LocalizedText, NodeId, an ExtensionObject's class, ...


def is_bad(status: int) -> bool:
    """OPC UA's top two status bits: 10 is Bad (11 is reserved, and read as Bad too)."""
    return ((status & 0xFFFFFFFF) >> 30) >= 2


def honest_status(status: int, override: int | None) -> int:
    """The status to store: ``override`` (from ``classify_value``) unless the server already said Bad.

    Uncertain is overridden too: an Uncertain NaN is still not a number, and must not be stored as
    anything but Bad (only Good readings train, but a NULL marked Uncertain reads as "a value, perhaps").
    """
    return status if override is None or is_bad(status) else override


def when(ts: float) -> str:
    """``1970-01-01 00:00:00 UTC``: an epoch time as a person reads it, for any time a server may send."""
    try:
        return f"{_EPOCH + timedelta(seconds=ts):%Y-%m-%d %H:%M:%S} UTC"
    except (OverflowError, ValueError):
        return f"{ts:.0f} s after 1970"


def value_and_status(notes: Notes, node_id: str, raw: object, status: int) -> tuple[float | None, int]:
    """The number and the status to store for ``raw`` read with ``status``; a new override is noted."""
    value, override, reason = classify_value(raw)
    stored = honest_status(status, override)
    if override is not None and stored == override:
        name = status_name(override)
        notes.add(node_id, name, f"{reason} where a number is mapped; stored as {name}")
    return value, stored


class Notes:
    """New problems, each said once per node and kind, until taken (``take``).

    Bounded by nodes x kinds: a problem that persists is not said again, so nothing piles up
    when nobody takes them."""

    def __init__(self) -> None:
        self._said: set[tuple[str, str]] = set()
        self._new: list[str] = []

    def add(self, node_id: str, kind: str, message: str, *, once_per_endpoint: bool = False) -> None:
        """``once_per_endpoint``: a property of the server, not of the node: said for the first node only."""
        key = ("", kind) if once_per_endpoint else (node_id, kind)
        if key not in self._said:
            self._said.add(key)
            self._new.append(f"node {node_id}: {message}")

    def take(self) -> list[str]:
        new, self._new = self._new, []
        return new


Source = Literal["source", "server", "received"]
Fallback = Literal["server", "received"]


class TimestampPolicy:
    """Chooses each reading's time, per connector, and notes when a clock cannot be believed.

    ``source`` is the endpoint's ``timestamp_source``. Its timestamp is not used when it is:

    - missing;
    - impossible: before 2000-01-01 (a device clock reset to 1970, or OPC UA's 1601 "no time");
    - ahead: more than ``max_future_s`` after the receive time (a time-zone stamped as UTC, a
      clock set wrong): storing it would post-date the reading and hide the ones after it. Unless
      the value's other timestamp agrees with it (within ``max_future_s``): then it is the server's
      own clock that runs ahead, stamping both, as the simulated plant's does on purpose (its clock
      runs ``speed`` times faster than the wall, and everything downstream runs on it). A server
      cannot be told from a simulation by one reading, so the time is kept, and said once for the
      endpoint;
    - stuck: the same time as this node's previous number while the number changed (a device that
      stamps every value with its boot time, say, or a clock too coarse to tell two values apart).
      All those values would share one key and all but the first be lost. Once seen, that time
      stays stuck for the node until it moves on.

    Then the reading is timed per ``fallback``: ``server`` takes the server timestamp when it is
    itself present, possible and not ahead, else the receive time; ``received`` takes the receive
    time. The receive time is always there and never post-dates. With ``source: server`` the
    server timestamp is checked the same way and falls back to the receive time; ``received`` is
    used as is. The first value of a node cannot be known stuck: it keeps its time.
    """

    def __init__(
        self,
        source: Source = "source",
        *,
        max_future_s: float = 300.0,
        fallback: Fallback = "server",
        notes: Notes | None = None,
    ):
        self.source, self.max_future_s, self.fallback = source, float(max_future_s), fallback
        self.notes = notes if notes is not None else Notes()
        self._last: dict[str, tuple[float, float]] = {}  # node -> (time, number) of its previous number
        self._stuck: dict[str, float] = {}  # node -> a time found stuck

    def choose(
        self,
        node_id: str,
        value: float | None,
        *,
        source_ts: float | None,
        server_ts: float | None,
        received: float,
    ) -> float:
        """The time to store this reading with (epoch seconds). ``value``: the number, or None."""
        if self.source == "received":
            return received
        which = self.source
        ts = source_ts if which == "source" else server_ts
        if ts is None and value is None:  # a Bad answer (a node deleted) often comes with no time: nothing to say
            return received
        if ts is None:
            problem = ("missing", "missing")
        else:
            found = self._problem(ts, received)
            other = server_ts if which == "source" else source_ts
            if found is not None and found[0] == "ahead" and other is not None and abs(other - ts) <= self.max_future_s:
                self.notes.add(
                    node_id,
                    "clock-ahead",
                    f"source and server timestamps agree at {ts - received:.0f} s ahead of the receive time: the "
                    "server's own clock runs ahead (an accelerated simulated plant, or a server clock set wrong); "
                    "times kept as sent",
                    once_per_endpoint=True,
                )
                found = None
            found = found or self._stuck_check(node_id, ts, value)
            if found is None:
                return ts
            problem = found
        kind, said = problem
        target, chosen = "the receive time", received
        if which == "source" and self.fallback == "server" and server_ts is not None:
            if self._problem(server_ts, received) is None:
                target, chosen = "the server time", server_ts
        self.notes.add(node_id, f"{which}:{kind}", f"{which} timestamp {said}; using {target}")
        return chosen

    def _problem(self, ts: float, received: float) -> tuple[str, str] | None:
        """``(kind, what to say)`` when ``ts`` cannot be the reading's time, whoever sent it."""
        if not math.isfinite(ts):
            return "missing", f"{ts} is not a time"
        if ts < EARLIEST_PLAUSIBLE:
            return "impossible", f"{when(ts)} is impossible (before 2000-01-01)"
        ahead = ts - received
        if ahead > self.max_future_s:
            return "ahead", (
                f"{when(ts)} is {ahead:.0f} s ahead of the receive time "
                f"(more than timestamp_max_future_s {self.max_future_s:g} s)"
            )
        return None

    def _stuck_check(self, node_id: str, ts: float, value: float | None) -> tuple[str, str] | None:
        stuck = ("stuck", f"{when(ts)} stays the same while the value changes (stuck)")
        if self._stuck.get(node_id) == ts:  # a clock known stuck times nothing more, a Bad reading included
            if value is not None:
                self._last[node_id] = (ts, value)
            return stuck
        if value is None:  # no number to compare: a Bad reading keeps the time it came with
            return None
        last = self._last.get(node_id)
        self._last[node_id] = (ts, value)
        if last is not None and last[0] == ts and last[1] != value:
            self._stuck[node_id] = ts
            return stuck
        self._stuck.pop(node_id, None)  # the clock moved on
        return None

    def take_notes(self) -> list[str]:
        return self.notes.take()
