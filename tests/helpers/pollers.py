"""Pollers for the ingest and connector tests: one company (acme), one endpoint (plc), its nodes as tags."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm.config import EndpointConfig, parse_plants
from pdm.ingest.poller import EndpointPoller
from pdm.ingest.spool import Spool
from pdm.storage.catalog import apply_plants, list_endpoints, list_tags
from pdm.storage.tables import Reading, Tag
from tests.helpers.plants import one_endpoint

# Reconnects come quickly and a server that went away is noticed within seconds.
QUICK = {"reconnect_max_delay_s": 0.5, "connect_timeout_s": 2, "request_timeout_s": 2}


def load_endpoint(
    sessions: sessionmaker[Session], url: str, nodes: Sequence[str | dict], *, assets=("P-1",), **settings
) -> tuple[int, EndpointConfig, dict[str, list[int]]]:
    """Apply a plant of one endpoint reading ``nodes`` (a bare node id becomes tag ``t<i>`` of pump P-1).

    Returns the endpoint's id, its config (``settings`` over the stored ones) and node id → tag ids
    (several when a node feeds several tags)."""
    mapped = [n if isinstance(n, dict) else {"node_id": n, "tag": f"t{i}", "asset": "P-1"} for i, n in enumerate(nodes)]
    cfg = parse_plants(one_endpoint(url, mapped, assets=assets))
    with sessions.begin() as s:
        apply_plants(s, cfg)
        ep = list_endpoints(s, company_id=1)[0]
        tags: dict[str, list[int]] = {}
        for t in list_tags(s, company_id=1):
            tags.setdefault(t.node_id, []).append(t.id)
        return ep.id, EndpointConfig.model_validate({**ep.settings, **settings}), tags


def make_poller(
    sessions: sessionmaker[Session], url: str, nodes: Sequence[str | dict], folder: Path, **settings
) -> EndpointPoller:
    """A poller of ``load_endpoint``'s endpoint, spooling to ``folder / "spool"``."""
    endpoint_id, config, tags = load_endpoint(sessions, url, nodes, **settings)
    return EndpointPoller(
        endpoint_id=endpoint_id,
        name="acme/plc",
        config=config,
        tags=tags,
        sessions=sessions,
        spool=Spool(Path(folder) / "spool", max_bytes=10_000_000),
    )


def successor(
    poller: EndpointPoller, spool_folder: Path, sessions: sessionmaker[Session] | None = None
) -> EndpointPoller:
    """Another poller of ``poller``'s endpoint (a take-over, a restart), with a spool folder of its own."""
    return EndpointPoller(
        endpoint_id=poller.endpoint_id,
        name=poller.name,
        config=poller.config,
        tags=poller.tags,
        sessions=sessions or poller.sessions,
        spool=Spool(spool_folder, max_bytes=10_000_000),
    )


async def until_up(poller: EndpointPoller, limit_s: float = 20.0) -> None:
    """Poll until the endpoint is read again, skipping the backoff waits (state, not timing)."""
    deadline = time.monotonic() + limit_s
    while poller.state != "UP":
        assert time.monotonic() < deadline, "the endpoint never came back"
        poller.next_attempt = 0
        await poller.poll_once()


def stored_values(sessions: sessionmaker[Session]) -> dict[str, list[float]]:
    """Tag name → its stored values, oldest first."""
    with sessions() as s:
        rows = s.execute(select(Tag.name, Reading.value).join(Reading, Reading.tag_id == Tag.id).order_by(Reading.ts))
        out: dict[str, list[float]] = {}
        for name, value in rows:
            out.setdefault(name, []).append(value)
        return out
