"""Device quirks kept honest: non-numbers stored Bad with their reason, clocks that cannot be believed
replaced per the endpoint's policy, each problem said once per node and kind.

First the pure functions of ``pdm.connectors.quirks``, then the same cases read from a real asyncua
server (polled and subscribed) that serves them and answers only the timestamps a client asks for.
"""

from __future__ import annotations

import asyncio
import math
import re
from datetime import UTC, datetime

import pytest
from asyncua import ua

from pdm.config import EndpointConfig
from pdm.connectors import make_connector
from pdm.connectors.quirks import (
    BAD_NO_VALUE,
    BAD_OUT_OF_RANGE,
    BAD_TYPE_MISMATCH,
    Notes,
    TimestampPolicy,
    classify_value,
    honest_status,
    value_and_status,
)
from tests.helpers.servers import QuirkServer

GOOD = 0
UNCERTAIN = ua.StatusCodes.UncertainLastUsableValue
BAD_SERVER = ua.StatusCodes.BadSensorFailure
T = 1_790_000_000.0  # 2026-09-21: a sane time
RECEIVED = T + 0.5
SERVER = T + 0.25


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        (True, (1.0, None, None)),
        (False, (0.0, None, None)),
        (3, (3.0, None, None)),
        (-2.5, (-2.5, None, None)),
        (0.0, (0.0, None, None)),
        (2**64 - 1, (float(2**64 - 1), None, None)),  # UInt64's largest is still a finite double
        (math.nan, (None, BAD_OUT_OF_RANGE, "NaN")),
        (math.inf, (None, BAD_OUT_OF_RANGE, "+inf")),
        (-math.inf, (None, BAD_OUT_OF_RANGE, "-inf")),
        (10**400, (None, BAD_OUT_OF_RANGE, "an integer too large for a number")),
        (None, (None, BAD_NO_VALUE, "no value (Null)")),
        ("12.5", (None, BAD_TYPE_MISMATCH, "a string")),
        (b"\x00\x01\x02", (None, BAD_TYPE_MISMATCH, "a ByteString of 3 bytes")),
        ([1.0, 2.0, 3.0], (None, BAD_TYPE_MISMATCH, "an array of 3")),
        ([], (None, BAD_TYPE_MISMATCH, "an array of 0")),
        (datetime(2026, 1, 1, tzinfo=UTC), (None, BAD_TYPE_MISMATCH, "a DateTime")),
        (ua.LocalizedText("on"), (None, BAD_TYPE_MISMATCH, "a LocalizedText")),
    ],
)
def test_classify_value(raw, expected):
    assert classify_value(raw) == expected


def test_the_codes_are_opc_uas():
    assert (BAD_OUT_OF_RANGE, BAD_NO_VALUE, BAD_TYPE_MISMATCH) == (0x803C0000, 0x80F00000, 0x80740000)


@pytest.mark.parametrize(
    "status, override, stored",
    [
        (GOOD, None, GOOD),
        (GOOD, BAD_TYPE_MISMATCH, BAD_TYPE_MISMATCH),
        (UNCERTAIN, BAD_OUT_OF_RANGE, BAD_OUT_OF_RANGE),  # an Uncertain NaN is still not a number
        (BAD_SERVER, BAD_NO_VALUE, BAD_SERVER),  # the server's own Bad is the better reason
        (BAD_SERVER, None, BAD_SERVER),
    ],
)
def test_honest_status_overrides_only_what_the_server_did_not_call_bad(status, override, stored):
    assert honest_status(status, override) == stored


def test_value_notes_are_said_once_per_node_and_kind():
    notes = Notes()
    assert value_and_status(notes, "ns=2;s=A", "ERR", GOOD) == (None, BAD_TYPE_MISMATCH)
    assert value_and_status(notes, "ns=2;s=A", [1, 2], GOOD) == (None, BAD_TYPE_MISMATCH)  # same kind
    assert value_and_status(notes, "ns=2;s=A", math.nan, GOOD) == (None, BAD_OUT_OF_RANGE)
    assert value_and_status(notes, "ns=2;s=B", "ERR", GOOD) == (None, BAD_TYPE_MISMATCH)
    assert value_and_status(notes, "ns=2;s=C", "ERR", BAD_SERVER) == (None, BAD_SERVER)  # no override: no note
    assert value_and_status(notes, "ns=2;s=D", 7, GOOD) == (7.0, GOOD)
    assert notes.take() == [
        "node ns=2;s=A: a string where a number is mapped; stored as BadTypeMismatch",
        "node ns=2;s=A: NaN where a number is mapped; stored as BadOutOfRange",
        "node ns=2;s=B: a string where a number is mapped; stored as BadTypeMismatch",
    ]
    assert value_and_status(notes, "ns=2;s=A", "ERR", GOOD) == (None, BAD_TYPE_MISMATCH)
    assert notes.take() == []


# --- timestamps -----------------------------------------------------------------------------------


def _choose(policy, value=1.0, *, source=T, server=SERVER, received=RECEIVED, node="ns=2;s=X"):
    return policy.choose(node, value, source_ts=source, server_ts=server, received=received)


def test_a_sane_source_timestamp_is_kept_without_a_note():
    policy = TimestampPolicy("source")
    assert _choose(policy) == T
    assert _choose(policy, source=RECEIVED + 300) == RECEIVED + 300  # at the bound: still believed
    assert policy.take_notes() == []


@pytest.mark.parametrize(
    "source, said",
    [
        (None, "source timestamp missing"),
        (0.0, "source timestamp 1970-01-01 00:00:00 UTC is impossible (before 2000-01-01)"),
        (-11_644_473_600.0, "source timestamp 1601-01-01 00:00:00 UTC is impossible (before 2000-01-01)"),
        (946_684_799.0, "source timestamp 1999-12-31 23:59:59 UTC is impossible (before 2000-01-01)"),
        (
            RECEIVED + 86_400,
            "source timestamp 2026-09-22 14:13:20 UTC is 86400 s ahead of the receive time "
            "(more than timestamp_max_future_s 300 s)",
        ),
        (RECEIVED + 300.5, "source timestamp 2026-09-21 14:18:21 UTC is 300 s ahead of the receive time (more than"),
    ],
)
def test_a_source_timestamp_that_cannot_be_believed_falls_back_to_the_server_time(source, said):
    policy = TimestampPolicy("source", max_future_s=300, fallback="server")
    assert _choose(policy, source=source) == SERVER
    (note,) = policy.take_notes()
    assert note.startswith(f"node ns=2;s=X: {said}") and note.endswith("; using the server time")


def test_a_server_clock_ahead_stamping_both_is_kept_and_said_once_for_the_endpoint():
    # The simulated plant stamps source and server time with its clock, running `speed` times the wall.
    policy = TimestampPolicy("source", max_future_s=300)
    ahead = RECEIVED + 3600
    assert _choose(policy, source=ahead, server=ahead, node="A") == ahead
    assert _choose(policy, 2.0, source=ahead + 60, server=ahead + 60.5, node="A") == ahead + 60
    assert _choose(policy, source=ahead, server=ahead + 299, node="B") == ahead  # agree within max_future_s
    assert _choose(policy, source=ahead, server=ahead + 301, node="C") == RECEIVED  # they disagree: both ahead
    assert policy.take_notes() == [
        "node A: source and server timestamps agree at 3600 s ahead of the receive time: the server's own clock "
        "runs ahead (an accelerated simulated plant, or a server clock set wrong); times kept as sent",
        "node C: source timestamp 2026-09-21 15:13:20 UTC is 3600 s ahead of the receive time "
        "(more than timestamp_max_future_s 300 s); using the receive time",
    ]
    stuck = TimestampPolicy("source")  # a clock ahead is still checked for being stuck
    assert _choose(stuck, 1.0, source=ahead, server=ahead) == ahead
    assert _choose(stuck, 2.0, source=ahead, server=ahead) == RECEIVED  # the server time is ahead too
    assert [n.split(": ", 1)[1][:12] for n in stuck.take_notes()] == ["source and s", "source times"]


def test_fallback_received_takes_the_receive_time():
    policy = TimestampPolicy("source", fallback="received")
    assert _choose(policy, source=0.0) == RECEIVED
    assert policy.take_notes() == [
        "node ns=2;s=X: source timestamp 1970-01-01 00:00:00 UTC is impossible (before 2000-01-01); "
        "using the receive time"
    ]


@pytest.mark.parametrize("server", [None, 0.0, RECEIVED + 3600])
def test_a_server_time_that_cannot_be_believed_either_gives_the_receive_time(server):
    policy = TimestampPolicy("source", fallback="server")
    assert _choose(policy, source=None, server=server) == RECEIVED
    assert policy.take_notes() == ["node ns=2;s=X: source timestamp missing; using the receive time"]


def test_timestamp_source_server_uses_the_server_time_and_checks_it():
    policy = TimestampPolicy("server")
    assert _choose(policy, source=0.0) == SERVER  # the source clock is not asked
    assert _choose(policy, server=None) == RECEIVED
    assert _choose(policy, server=RECEIVED + 1000) == RECEIVED
    assert policy.take_notes() == [
        "node ns=2;s=X: server timestamp missing; using the receive time",
        "node ns=2;s=X: server timestamp 2026-09-21 14:30:00 UTC is 1000 s ahead of the receive time "
        "(more than timestamp_max_future_s 300 s); using the receive time",
    ]


def test_timestamp_source_received_ignores_both_clocks():
    policy = TimestampPolicy("received")
    assert _choose(policy, source=0.0, server=None) == RECEIVED
    assert policy.take_notes() == []


def test_a_stuck_source_timestamp_is_found_and_stays_found_until_it_moves():
    policy = TimestampPolicy("source")
    assert _choose(policy, 1.0, source=T, server=T + 1, received=T + 1.5) == T  # the first cannot be known stuck
    assert _choose(policy, 1.0, source=T, server=T + 2, received=T + 2.5) == T  # unchanged, re-read: same time
    assert _choose(policy, 2.0, source=T, server=T + 3, received=T + 3.5) == T + 3  # changed, same time: stuck
    assert _choose(policy, 2.0, source=T, server=T + 4, received=T + 4.5) == T + 4  # still stuck
    assert _choose(policy, None, source=T, server=T + 5, received=T + 5.5) == T + 5  # a Bad one too
    assert _choose(policy, 3.0, source=T + 6, server=T + 6.1, received=T + 6.5) == T + 6  # moved on
    assert _choose(policy, 4.0, source=T + 7, server=T + 7.1, received=T + 7.5) == T + 7
    assert policy.take_notes() == [
        "node ns=2;s=X: source timestamp 2026-09-21 14:13:20 UTC stays the same while the value changes (stuck); "
        "using the server time"
    ]


def test_a_bad_reading_with_the_last_time_is_not_stuck():
    policy = TimestampPolicy("source")
    assert _choose(policy, 1.0) == T
    assert _choose(policy, None) == T  # a server's Bad status with its last good time: no number to compare
    assert _choose(policy, 1.0) == T
    assert policy.take_notes() == []


def test_timestamp_notes_are_said_once_per_node_and_kind_and_taken_once():
    notes = Notes()
    policy = TimestampPolicy("source", notes=notes)
    for _ in range(3):
        _choose(policy, source=0.0, node="A")
        _choose(policy, source=0.0, node="B")
    _choose(policy, source=RECEIVED + 3600, node="A")
    _choose(policy, source=None, node="A")
    impossible = "source timestamp 1970-01-01 00:00:00 UTC is impossible (before 2000-01-01); using the server time"
    assert policy.take_notes() == [
        f"node A: {impossible}",
        f"node B: {impossible}",
        "node A: source timestamp 2026-09-21 15:13:20 UTC is 3600 s ahead of the receive time "
        "(more than timestamp_max_future_s 300 s); using the server time",
        "node A: source timestamp missing; using the server time",
    ]
    _choose(policy, source=0.0, node="A")
    assert policy.take_notes() == [] and notes.take() == []


# --- a real server --------------------------------------------------------------------------------

VALUES = QuirkServer.VALUES


def _stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@pytest.fixture
async def quirk_server():
    srv = await QuirkServer().start()
    yield srv
    await srv.stop()


def _cfg(url, **kw) -> EndpointConfig:
    return EndpointConfig(name="plc", endpoint_url=url, **kw)


async def test_polled_non_numbers_are_stored_bad_with_their_reason_said_once(quirk_server):
    srv = quirk_server
    ids = [srv.node_id(n) for n in VALUES]
    async with make_connector(_cfg(srv.url)) as conn:
        first = await conn.read(ids)
        notes = conn.take_notes()
        again = await conn.read(ids)
        assert conn.take_notes() == []  # a quirk that stays is not said again
    for readings in (first, again):
        assert {n: (r.value, r.quality) for n, r in zip(VALUES, readings)} == {n: v[1] for n, v in VALUES.items()}
        assert [r.ts for r in readings] == [srv.now - 10] * len(VALUES)  # sane source times are kept
    assert notes == [
        f"node {srv.node_id('nan')}: NaN where a number is mapped; stored as BadOutOfRange",
        f"node {srv.node_id('pinf')}: +inf where a number is mapped; stored as BadOutOfRange",
        f"node {srv.node_id('ninf')}: -inf where a number is mapped; stored as BadOutOfRange",
        f"node {srv.node_id('text')}: a string where a number is mapped; stored as BadTypeMismatch",
        f"node {srv.node_id('array')}: an array of 3 where a number is mapped; stored as BadTypeMismatch",
        f"node {srv.node_id('date')}: a DateTime where a number is mapped; stored as BadTypeMismatch",
        f"node {srv.node_id('bytes')}: a ByteString of 2 bytes where a number is mapped; stored as BadTypeMismatch",
        f"node {srv.node_id('null')}: no value (Null) where a number is mapped; stored as BadNoValue",
    ]


@pytest.mark.parametrize("fallback", ["server", "received"])
async def test_polled_clocks_that_cannot_be_believed_fall_back_per_the_policy(quirk_server, fallback):
    srv = quirk_server
    ids = [srv.node_id(n) for n in ("epoch0", "ahead", "constant")]
    async with make_connector(_cfg(srv.url, timestamp_fallback=fallback)) as conn:
        epoch0, ahead, constant = await conn.read(ids)
        double = ua.VariantType.Double
        await srv.write("constant", ua.Variant(3.5, double), source=srv.now - 100, server=srv.now - 5)
        (stuck,) = await conn.read(ids[2:])
        (still,) = await conn.read(ids[2:])
        await srv.write("constant", ua.Variant(3.75, double), source=srv.now - 2, server=srv.now - 1)
        (moved,) = await conn.read(ids[2:])
        notes = conn.take_notes()
    by_policy = {"server": lambda server_ts, r: server_ts, "received": lambda server_ts, r: r.received_at}
    assert (epoch0.value, epoch0.quality, epoch0.ts) == (1.0, GOOD, by_policy[fallback](srv.now - 8, epoch0))
    assert (ahead.value, ahead.quality, ahead.ts) == (2.0, GOOD, by_policy[fallback](srv.now - 7, ahead))
    assert (constant.value, constant.ts) == (3.0, srv.now - 100)  # the first cannot be known stuck
    assert (stuck.value, stuck.quality, stuck.ts) == (3.5, GOOD, by_policy[fallback](srv.now - 5, stuck))
    assert (still.value, still.ts) == (3.5, by_policy[fallback](srv.now - 5, still))
    assert (moved.value, moved.ts) == (3.75, srv.now - 2)
    using = "the server time" if fallback == "server" else "the receive time"
    assert notes == [
        f"node {srv.node_id('epoch0')}: source timestamp 1970-01-01 00:00:00 UTC is impossible (before 2000-01-01); "
        f"using {using}",
        f"node {srv.node_id('ahead')}: source timestamp {_stamp(srv.now + 86_400):%Y-%m-%d %H:%M:%S} UTC is "
        f"{srv.now + 86_400 - ahead.received_at:.0f} s ahead of the receive time "
        f"(more than timestamp_max_future_s 300 s); using {using}",
        f"node {srv.node_id('constant')}: source timestamp {_stamp(srv.now - 100):%Y-%m-%d %H:%M:%S} UTC stays the "
        f"same while the value changes (stuck); using {using}",
    ]


async def test_timestamp_source_server_asks_for_and_uses_the_server_timestamp(quirk_server):
    srv = quirk_server
    async with make_connector(_cfg(srv.url, timestamp_source="server")) as conn:
        (r,) = await conn.read([srv.node_id("server_past")])
        assert conn.take_notes() == []
    assert (r.value, r.quality, r.ts) == (4.0, GOOD, srv.now - 3600)
    assert r.received_at - r.ts > 3500  # not the receive time, nor the source time


async def test_a_server_whose_own_clock_runs_ahead_keeps_its_times_and_says_so_once(quirk_server):
    srv = quirk_server
    async with make_connector(_cfg(srv.url)) as conn:
        (r,) = await conn.read([srv.node_id("sim_clock")])
        (again,) = await conn.read([srv.node_id("sim_clock")])
        (note,) = conn.take_notes()
    assert (r.value, r.quality, r.ts) == (again.value, again.quality, again.ts) == (5.0, GOOD, srv.now + 3600)
    assert note.startswith(f"node {srv.node_id('sim_clock')}: source and server timestamps agree at ")
    assert note.endswith(
        "s ahead of the receive time: the server's own clock runs ahead (an accelerated simulated "
        "plant, or a server clock set wrong); times kept as sent"
    )


async def test_a_larger_max_future_believes_a_clock_a_day_ahead(quirk_server):
    srv = quirk_server
    async with make_connector(_cfg(srv.url, timestamp_max_future_s=86_400)) as conn:
        (r,) = await conn.read([srv.node_id("ahead")])
        assert conn.take_notes() == []
    assert r.ts == srv.now + 86_400


async def _collect(conn, ids, until, attempts=300):
    got = []
    for _ in range(attempts):
        got += await conn.read(ids)
        if until(got):
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met; got {got[-5:]}")


async def test_subscribed_values_and_clocks_are_handled_as_when_polled(quirk_server):
    srv = quirk_server
    names = [*VALUES, "epoch0", "ahead", "constant"]
    ids = [srv.node_id(n) for n in names]
    fast = {"mode": "subscribe", "sampling_interval_s": 0.05, "publishing_interval_s": 0.1}
    async with make_connector(_cfg(srv.url, **fast)) as conn:
        first = await _collect(conn, ids, lambda rs: {r.node_id for r in rs} == set(ids))
        await srv.write("constant", ua.Variant(3.5, ua.VariantType.Double), source=srv.now - 100, server=srv.now - 5)
        later = await _collect(conn, ids, lambda rs: any(r.value == 3.5 for r in rs))
        notes = conn.take_notes()
    got = {r.node_id: r for r in first}
    assert {n: (got[srv.node_id(n)].value, got[srv.node_id(n)].quality) for n in VALUES} == {
        n: v[1] for n, v in VALUES.items()
    }
    assert {n: got[srv.node_id(n)].ts for n in VALUES} == dict.fromkeys(VALUES, srv.now - 10)
    assert [got[srv.node_id(n)].ts for n in ("epoch0", "ahead", "constant")] == [
        srv.now - 8,
        srv.now - 7,
        srv.now - 100,
    ]
    (stuck,) = [r for r in later if r.value == 3.5]
    assert (stuck.node_id, stuck.quality, stuck.ts) == (srv.node_id("constant"), GOOD, srv.now - 5)
    # The same notes as when polled, each once: 8 values that are not numbers, 3 clocks.
    said = [re.match(r"node nsu=urn:pdm:quirks;s=(\w+): ", n)[1] for n in notes]
    assert said == [n for n in VALUES if n not in ("number", "flag", "broken")] + ["epoch0", "ahead", "constant"]


def test_a_bad_answer_without_any_time_is_timed_on_receipt_without_a_note():
    policy = TimestampPolicy()
    assert policy.choose("ns=2;s=gone", None, source_ts=None, server_ts=None, received=RECEIVED) == RECEIVED
    assert policy.take_notes() == []
