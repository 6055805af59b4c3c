"""What the connector could not take as it came is stored Bad with its reason, logged once, counted in health."""

from __future__ import annotations

import logging

from sqlalchemy import select

from pdm.storage.tables import Reading, Tag
from tests.helpers.pollers import make_poller
from tests.helpers.servers import QuirkServer

BAD_OUT_OF_RANGE, BAD_TYPE_MISMATCH = 0x803C0000, 0x80740000


async def test_quirky_values_and_clocks_are_stored_honestly_and_said_once(sessions, tmp_path, caplog):
    server = await QuirkServer().start()
    names = ["nan", "text", "epoch0"]
    nodes = [{"node_id": server.node_id(n), "tag": n.replace("0", "-zero"), "asset": "P-1"} for n in names]
    poller = make_poller(sessions, server.url, nodes, tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="pdm.ingest.poller"):
            for _ in range(3):
                assert await poller.poll_once() == 3
            await poller.flush()
    finally:
        await poller.close()
        await server.stop()
    with sessions() as s:
        stored = {
            name: (value, quality, ts)
            for name, value, quality, ts in s.execute(
                select(Tag.name, Reading.value, Reading.quality, Reading.ts).join(Reading, Reading.tag_id == Tag.id)
            )
        }
    assert stored["nan"][:2] == (None, BAD_OUT_OF_RANGE)
    assert stored["text"][:2] == (None, BAD_TYPE_MISMATCH)
    assert stored["epoch-zero"] == (1.0, 0, server.now - 8)  # the server's time, not 1970, and still Good
    messages = [r.getMessage() for r in caplog.records if r.name == "pdm.ingest.poller"]
    assert len(messages) == 3, messages  # one line per node and kind, three polls notwithstanding
    assert any("NaN where a number is mapped; stored as BadOutOfRange" in m for m in messages)
    assert any("using the server time" in m for m in messages)
    assert poller.quirks == 3 and poller.health.snapshot()["errors_last_hour"] == 3
