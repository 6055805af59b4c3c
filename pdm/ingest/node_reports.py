"""What a poll says of single nodes: a node that turns Bad, or a value the connector could not take.

Each is logged once by name (and once when the node recovers) and counted in health; the reading is
still stored with its status, and the other nodes are unaffected. ``NodeReports`` is a mixin of
``pdm.ingest.poller.EndpointPoller``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pdm.connectors import Reading, is_good, status_name

if TYPE_CHECKING:
    from pdm.connectors import Connector
    from pdm.ingest.health import Health

log = logging.getLogger("pdm.ingest.poller")  # the poller's messages keep the one logger name they had


class NodeReports:
    """Bad nodes and connector notes, each logged once."""

    if TYPE_CHECKING:
        name: str
        connector: Connector
        health: Health
        quirks: int
        bad_nodes: dict[str, int]

    def _report_quirks(self) -> set[str]:
        """Log and count what the connector noticed (a NaN, a clock that cannot be believed), each once per
        node and kind; returns the nodes it spoke of."""
        noted = set()
        for note in getattr(self.connector, "take_notes", list)():
            log.warning("endpoint %s: %s", self.name, note)
            self.health.error(note)
            self.quirks += 1
            if note.startswith("node "):
                noted.add(note[5:].split(": ", 1)[0])
        return noted

    def _report_bad_nodes(self, readings: list[Reading]) -> None:
        explained = self._report_quirks()  # a node whose note says why it is Bad is not logged twice
        bad = {r.node_id: r.quality for r in readings if not is_good(r.quality)}
        for node_id, quality in bad.items():
            if self.bad_nodes.get(node_id) != quality and node_id not in explained:
                log.warning("endpoint %s: node %s is %s", self.name, node_id, status_name(quality))
                self.health.error(f"node {node_id}: {status_name(quality)}")
        for node_id in self.bad_nodes.keys() - bad.keys():
            log.warning("endpoint %s: node %s is good again", self.name, node_id)
        self.bad_nodes = bad
