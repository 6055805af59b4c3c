"""The worker: every endpoint polled on its own, so one server down never stops the others."""

import asyncio

from sqlalchemy import func, select

from pdm.config import DetectionConfig, Settings, parse_plants
from pdm.storage.catalog import apply_plants
from pdm.storage.tables import Endpoint, Reading, Tag

from tests.conftest import free_port


async def test_one_endpoint_down_does_not_stop_the_others(engine, sessions, db_url, opcua_server, tmp_path):
    from pdm.worker import Worker

    def endpoint(name, url, n):
        return {"name": name, "endpoint_url": url, "poll_interval_s": 0.2,
                "nodes": [{"node_id": opcua_server.node_ids[i], "tag": f"t{i}", "asset": "A-1"} for i in n]}

    dead = f"opc.tcp://127.0.0.1:{free_port()}/nothing-here"
    cfg = parse_plants({"companies": [
        {"id": "acme", "sites": [{"id": "s", "assets": [{"id": "A-1", "asset_class": "centrifugal_pump"}],
                                  "endpoints": [endpoint("live", opcua_server.url, range(0, 10))]}]},
        {"id": "beta", "sites": [{"id": "s", "assets": [{"id": "A-1", "asset_class": "centrifugal_pump"}],
                                  "endpoints": [endpoint("dead", dead, range(10, 20))]}]}]})
    with sessions.begin() as s:
        apply_plants(s, cfg)

    worker = Worker(engine=engine, settings=Settings(database_url=db_url, var_dir=tmp_path),
                    detection=DetectionConfig())
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(2.5)
    stop.set()
    await task

    with sessions() as s:
        states = dict(s.execute(select(Endpoint.name, Endpoint.state)).all())
        stored = s.execute(select(func.count()).select_from(Reading)).scalar_one()
        live_tags = s.execute(select(func.count(func.distinct(Reading.tag_id))).join(Tag, Tag.id == Reading.tag_id)
                              ).scalar_one()
    assert states == {"live": "UP", "dead": "DOWN"}
    assert stored >= 10 and live_tags == 10


async def test_disabled_endpoint_stops_and_a_new_mapping_is_picked_up(engine, sessions, db_url, opcua_server, tmp_path):
    """The engineer page changes the database; the running worker follows it without a restart."""
    from sqlalchemy import update

    from pdm.worker import Worker

    cfg = parse_plants({"companies": [{"id": "acme", "sites": [{
        "id": "s", "assets": [{"id": "A-1", "asset_class": "centrifugal_pump"}],
        "endpoints": [{"name": "plc", "endpoint_url": opcua_server.url, "poll_interval_s": 0.2,
                       "nodes": [{"node_id": opcua_server.node_ids[0], "tag": "t0", "asset": "A-1"}]}]}]}]})
    with sessions.begin() as s:
        apply_plants(s, cfg)
        endpoint_id, asset_id = s.execute(select(Endpoint.id, Tag.asset_id).join(Tag, Tag.endpoint_id == Endpoint.id)).one()
    worker = Worker(engine=engine, settings=Settings(database_url=db_url, var_dir=tmp_path),
                    detection=DetectionConfig(), refresh_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(1.0)
    assert set(worker.pollers[endpoint_id].tags) == {opcua_server.node_ids[0]}

    with sessions.begin() as s:  # a node mapped on the engineer page
        s.add(Tag(company_id=1, asset_id=asset_id, endpoint_id=endpoint_id, node_id=opcua_server.node_ids[1],
                  name="t1", unit=""))
    await worker.refresh_endpoints()
    assert set(worker.pollers[endpoint_id].tags) == set(opcua_server.node_ids[:2])

    with sessions.begin() as s:  # polling disabled on the engineer page
        s.execute(update(Endpoint).values(enabled=False))
    await worker.refresh_endpoints()
    assert worker.pollers == {} and worker.scheduler.get_job(f"poll:{endpoint_id}") is None
    stop.set()
    await task
