"""Ingest against a real asyncua server: store with quality, survive a restart, spool a DB outage."""

import asyncio
import logging

from sqlalchemy import func, select

from pdm.ingest.poller import EndpointPoller
from pdm.ingest.spool import Spool
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Endpoint, Reading, Tag
from tests.helpers.databases import one_database
from tests.helpers.pollers import load_endpoint, make_poller
from tests.helpers.servers import OpcUaTestServer, free_port


def _nodes(server, extra_nodes=()) -> list:
    return [*server.node_ids, *({"node_id": n, "tag": f"x{i}", "asset": "P-1"} for i, n in enumerate(extra_nodes))]


def _load(sessions, server):
    return load_endpoint(sessions, server.url, _nodes(server), reconnect_max_delay_s=1)


def _poller(sessions, server, tmp_path, extra_nodes=()):
    return make_poller(sessions, server.url, _nodes(server, extra_nodes), tmp_path, reconnect_max_delay_s=1)


def _count(sessions):
    with sessions() as s:
        return s.execute(select(func.count()).select_from(Reading)).scalar_one()


async def test_poll_stores_every_node_with_quality_and_endpoint_status(sessions, opcua_server, tmp_path):
    poller = _poller(sessions, opcua_server, tmp_path)
    assert await poller.poll_once() == 20
    await poller.close()
    with sessions() as s:
        values = dict(s.execute(select(Tag.name, Reading.value).join(Tag, Tag.id == Reading.tag_id)).all())
        ep = s.get(Endpoint, poller.endpoint_id)
    assert values["t7"] == 7.0 and len(values) == 20
    assert ep.state == "UP" and ep.last_read_at is not None and ep.readings_total == 20


async def test_values_read_again_unchanged_are_not_written_again(sessions, opcua_server, tmp_path):
    poller = _poller(sessions, opcua_server, tmp_path)
    assert await poller.poll_once() == 20
    await poller.flush()
    await opcua_server.variables[3].write_value(42.0)
    assert await poller.poll_once() == 20  # 20 values read, one of them new
    await poller.flush()
    assert await poller.poll_once() == 20
    await poller.close()
    with sessions() as s:
        ep = s.get(Endpoint, poller.endpoint_id)
    assert _count(sessions) == 21 and ep.readings_total == 21


async def test_unknown_node_is_stored_bad_and_does_not_drop_the_batch(sessions, opcua_server, tmp_path):
    poller = _poller(sessions, opcua_server, tmp_path, extra_nodes=["nsu=urn:pdm:test;s=missing", "ns=1;i=999999"])
    assert await poller.poll_once() == 22
    await poller.close()
    with sessions() as s:
        rows = dict(s.execute(select(Tag.name, Reading.quality).join(Tag, Tag.id == Reading.tag_id)).all())
    assert rows["t0"] == 0
    assert (rows["x0"] >> 30) == 2 and (rows["x1"] >> 30) == 2  # Bad, kept with its status


async def test_server_restart_is_survived_and_logged_once(sessions, tmp_path, caplog):
    server = await OpcUaTestServer().start()
    poller = _poller(sessions, server, tmp_path)
    with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
        assert await poller.poll_once() == 20
        await server.stop()
        for _ in range(3):
            poller.next_attempt = 0  # skip the backoff wait: this test is about state, not timing
            assert await poller.poll_once() == 0
        assert poller.state == "DOWN"
        with sessions() as s:
            assert s.get(Endpoint, poller.endpoint_id).state == "DOWN"
        server = await OpcUaTestServer(port=server.port).start()
        for var in server.variables:
            await var.write_value(100.0)
        poller.next_attempt = 0
        assert await poller.poll_once() == 20
    await poller.close()
    await server.stop()
    downs = [r for r in caplog.records if "down" in r.getMessage()]
    ups = [r for r in caplog.records if "back up" in r.getMessage()]
    assert len(downs) == 1 and len(ups) == 1
    assert poller.state == "UP"


async def test_backoff_is_bounded(sessions, tmp_path):
    server = OpcUaTestServer()  # never started: connection refused
    poller = _poller(sessions, server, tmp_path)
    for _ in range(6):
        poller.next_attempt = 0
        await poller.poll_once()
    assert poller.backoff.delay == poller.config.reconnect_max_delay_s == 1


async def test_database_outage_spools_then_drains_without_loss_or_duplicate(sessions, opcua_server, tmp_path, caplog):
    poller = _poller(sessions, opcua_server, tmp_path)
    assert await poller.poll_once() == 20
    await poller.flush()
    real = poller.sessions
    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/none", pool_pre_ping=False)
    poller.sessions = session_factory(dead)
    with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
        for i in range(3):
            for var in opcua_server.variables:
                await var.write_value(1000.0 + i)  # new source timestamps: new readings
            assert await poller.poll_once() == 20
        await poller.flush()  # storing overlaps the next read: wait for it before looking
        assert len(poller.spool) == 60 and _count(real) == 20
        poller.sessions = real
        await opcua_server.variables[0].write_value(5.0)
        assert await poller.poll_once() == 20
    await poller.close()
    assert len(poller.spool) == 0
    assert _count(real) == 20 + 60 + 20 - 19  # the last poll re-read 19 unchanged values: ignored, not doubled
    assert sum("database unavailable" in r.getMessage() for r in caplog.records) == 1


@one_database
async def test_node_deleted_while_polled_is_reported_once_by_name_and_others_kept(
    sessions, opcua_server, tmp_path, caplog
):
    poller = _poller(sessions, opcua_server, tmp_path)
    assert await poller.poll_once() == 20
    await opcua_server.server.delete_nodes([opcua_server.variables[4]])
    with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
        for i in range(3):
            for var in opcua_server.variables[:4]:
                await var.write_value(500.0 + i)
            assert await poller.poll_once() == 20
    await poller.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "pdm.ingest.poller"]
    assert messages == [f"endpoint acme/plc: node {opcua_server.node_ids[4]} is BadNodeIdUnknown"]
    assert poller.state == "UP"
    with sessions() as s:
        quality = dict(
            s.execute(
                select(Tag.name, func.max(Reading.quality)).join(Tag, Tag.id == Reading.tag_id).group_by(Tag.name)
            ).all()
        )
        latest = s.execute(
            select(func.max(Reading.value)).join(Tag, Tag.id == Reading.tag_id).where(Tag.name == "t0")
        ).scalar_one()
    assert (quality["t4"] >> 30) == 2 and quality["t5"] == 0 and latest == 502.0
    health = poller.health.snapshot()
    assert health["errors_last_hour"] == 1 and "BadNodeIdUnknown" in health["last_error"]


@one_database
async def test_subscribe_mode_stores_changes_and_survives_a_restart(sessions, tmp_path, caplog):
    server = await OpcUaTestServer(n=5).start()
    ep_id, config, tags = _load(sessions, server)
    config = config.model_copy(
        update={"mode": "subscribe", "sampling_interval_s": 0.05, "publishing_interval_s": 0.1, "request_timeout_s": 2}
    )
    poller = EndpointPoller(
        endpoint_id=ep_id,
        name="acme/plc",
        config=config,
        tags=tags,
        sessions=sessions,
        spool=Spool(tmp_path / "spool", max_bytes=10_000_000),
    )

    async def until_stored(n):
        for _ in range(300):
            poller.next_attempt = 0  # state, not timing: skip the backoff wait
            await poller.poll_once()
            await poller.flush()
            if _count(sessions) >= n:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{_count(sessions)} readings stored, expected {n}")

    with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
        await until_stored(5)  # initial values of every node
        await server.stop()
        for _ in range(300):
            poller.next_attempt = 0
            await poller.poll_once()
            if poller.state == "DOWN":
                break
            await asyncio.sleep(0.05)
        server = await OpcUaTestServer(n=5, port=server.port).start()
        await server.variables[0].write_value(123.0)
        await until_stored(6)
    await poller.close()
    await server.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "pdm.ingest.poller"]
    assert sum("down" in m for m in messages) == 1 and sum("back up" in m for m in messages) == 1


def _shared_node_plant(sessions, server):
    """One header-pressure node feeding a tag of each of two pumps, plus a node of its own for each."""
    nodes = [
        {"node_id": server.node_ids[0], "tag": "header_pressure", "asset": "P-1"},
        {"node_id": server.node_ids[0], "tag": "header_pressure", "asset": "P-2"},
        {"node_id": server.node_ids[1], "tag": "flow", "asset": "P-1"},
        {"node_id": server.node_ids[2], "tag": "flow", "asset": "P-2"},
    ]
    return load_endpoint(sessions, server.url, nodes, assets=("P-1", "P-2"))


async def test_a_node_shared_by_two_tags_is_read_once_and_stored_for_each(sessions, opcua_server, tmp_path):
    ep_id, config, tags = _shared_node_plant(sessions, opcua_server)
    assert len(tags[opcua_server.node_ids[0]]) == 2
    poller = EndpointPoller(
        endpoint_id=ep_id,
        name="acme/plc",
        config=config,
        tags=tags,
        sessions=sessions,
        spool=Spool(tmp_path / "spool", max_bytes=10_000_000),
    )
    assert sorted(poller.node_ids) == sorted(opcua_server.node_ids[:3])  # three nodes read
    assert await poller.poll_once() == 4  # four readings taken
    await opcua_server.variables[0].write_value(6.5)
    assert await poller.poll_once() == 4
    await poller.close()
    with sessions() as s:
        per_tag = s.execute(
            select(Tag.asset_id, Tag.name, func.count(), func.max(Reading.value))
            .join(Reading, Reading.tag_id == Tag.id)
            .group_by(Tag.asset_id, Tag.name)
        ).all()
    header = [(n, v) for _, name, n, v in per_tag if name == "header_pressure"]
    assert header == [(2, 6.5), (2, 6.5)]  # both pumps' tags, both values
    assert sorted(n for _, name, n, _ in per_tag if name == "flow") == [1, 1]  # unchanged: stored once


async def test_a_large_spool_is_replayed_behind_live_readings_in_bounded_transactions(
    sessions, opcua_server, tmp_path, caplog
):
    poller = _poller(sessions, opcua_server, tmp_path)
    tag = next(iter(poller.tags.values()))[0]
    old = [{"tag_id": tag, "ts": float(i), "value": 1.0, "quality": 0, "received_at": 1.0} for i in range(5000)]
    for start in range(0, 5000, 500):
        poller.spool.append(old[start : start + 500])
    poller.replay_batch_rows = 1000
    transactions: list[int] = []
    replay = poller._replay_some

    def counted():
        before = poller.spool.rows
        replay()
        transactions.append(before - poller.spool.rows)

    poller._replay_some = counted
    for var in opcua_server.variables:
        await var.write_value(2000.0)
    with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
        assert await poller.poll_once() == 20
        await asyncio.sleep(0)  # the writer starts
        for _ in range(400):
            if not poller.spool.rows:
                break
            await asyncio.sleep(0.02)
    with sessions() as s:
        live = s.execute(select(func.count()).select_from(Reading).where(Reading.value == 2000.0)).scalar_one()
        ep = s.get(Endpoint, poller.endpoint_id)
    await poller.close()
    assert live == 20 and poller.spool.rows == 0 and _count(sessions) == 5000 + 20
    assert transactions == [1000] * 5  # bounded: five transactions of 1,000, after the live rows
    assert ep.last_read_at > 1000  # replayed rows (received_at 1.0) did not move the last read back
    assert "spool replayed" in caplog.text


@one_database
async def test_each_endpoint_polls_on_its_own_and_a_slow_one_is_measured(sessions, opcua_server, tmp_path, caplog):
    from tests.helpers.netem import NetemProxy

    proxy = await NetemProxy(opcua_server.port).start()
    proxy.latency_s = 0.15  # every read waits 0.3 s: longer than the 0.1 s poll interval
    fast = _poller(sessions, opcua_server, tmp_path / "fast")
    fast.config = fast.config.model_copy(update={"poll_interval_s": 0.1})
    slow_config = fast.config.model_copy(update={"endpoint_url": proxy.url(), "request_timeout_s": 5})
    slow = EndpointPoller(
        endpoint_id=fast.endpoint_id,
        name="acme/slow",
        config=slow_config,
        tags=fast.tags,
        sessions=sessions,
        spool=Spool(tmp_path / "slow", max_bytes=10_000_000),
    )
    with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
        tasks = [asyncio.ensure_future(p.run()) for p in (fast, slow)]
        await asyncio.sleep(5)
        for p in (fast, slow):
            await p.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    await fast.close()
    await slow.close()
    await proxy.stop()
    assert fast.polls >= 15 and fast.overruns <= fast.polls // 3  # the slow endpoint never held it up
    assert slow.polls >= 2 and slow.overruns >= 2
    overrun_lines = [r.getMessage() for r in caplog.records if "longer than poll_interval_s" in r.getMessage()]
    assert len([m for m in overrun_lines if "acme/slow" in m]) == 1  # said once while it lasts
