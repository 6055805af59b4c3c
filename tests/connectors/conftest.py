"""Servers that behave like real PLCs: read limits enforced, nodes that disappear (classes in tests.helpers.servers)."""

from __future__ import annotations

import pytest

from tests.helpers.servers import LimitedServer


@pytest.fixture
async def limited_server():
    srv = await LimitedServer(95, max_nodes_per_read=10, per_object=50).start()
    yield srv
    await srv.stop()
