"""MQTT browse: the topics and Sparkplug B metrics a broker delivers in a few seconds, to map to tags.

Plain topics come with their numeric JSON leaves (``mqtt:<topic>#<path>``); Sparkplug metrics as
``spb:`` node ids, named by the births heard, and an edge node heard without its birth is asked
for one (so its metrics have names). Bounded: a busy broker gives ``max_nodes`` and "cut short".
"""

from __future__ import annotations

import asyncio
import json

from pdm.connectors import sparkplug
from pdm.connectors.browse import BrowsedNode

SAMPLE_CHARS = 80


async def browse(conn, *, seconds: float, max_nodes: int) -> tuple[list[BrowsedNode], bool]:
    client = conn._client
    client.subscribe("#", qos=0)
    client.subscribe(f"{sparkplug.NAMESPACE}/#", qos=0)  # some brokers leave spBv1.0 out of "#" by ACL
    await asyncio.sleep(seconds)
    client.unsubscribe(["#", f"{sparkplug.NAMESPACE}/#"])
    seen: dict[str, BrowsedNode] = {}
    edges = sparkplug.EdgeNodes()
    asked: set[tuple[str, str]] = set()
    for topic, data, received_at in [conn._raw.popleft() for _ in range(len(conn._raw))]:
        if topic.startswith(sparkplug.NAMESPACE + "/"):
            _sparkplug(conn, edges, topic, data, received_at, seen, asked)
        else:
            _plain(topic, data, seen)
    nodes = sorted(seen.values(), key=lambda n: n.node_id)
    return nodes[:max_nodes], len(nodes) > max_nodes


def _plain(topic: str, data: bytes, seen: dict[str, BrowsedNode]) -> None:
    text = data[:SAMPLE_CHARS].decode("utf-8", "replace")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        doc = None
    kind = "number" if isinstance(doc, int | float) and not isinstance(doc, bool) else "json" if doc else "bytes"
    seen[f"mqtt:{topic}"] = BrowsedNode(1, f"mqtt:{topic}", topic, "Topic", kind, text)
    for path, value in _leaves(doc, ""):
        node_id = f"mqtt:{topic}#{path}"
        seen[node_id] = BrowsedNode(2, node_id, path, "Field", "number", value)


def _leaves(doc: object, prefix: str):
    """Numeric leaves of a JSON document as (path, value), in the json_path syntax."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:20]):
            yield from _leaves(value, f"{prefix}[{i}]")
    elif isinstance(doc, int | float) and not isinstance(doc, bool) and prefix:
        yield prefix, doc


def _sparkplug(conn, edges, topic: str, data: bytes, received_at: float, seen, asked) -> None:
    try:
        taken = edges.take(topic, data, received_at)
    except sparkplug.SparkplugError:
        return
    group, _, edge, _ = sparkplug.parse_topic(topic) or ("", "", "", None)
    if taken.rebirth and (group, edge) not in asked:
        asked.add((group, edge))
        conn._publish(f"{sparkplug.NAMESPACE}/{group}/NCMD/{edge}", sparkplug.rebirth_request(int(received_at * 1000)))
    for node_id, value, problem, _ in taken.values:
        name = node_id.split("/", 3)[3]
        seen[node_id] = BrowsedNode(1, node_id, name, "Metric", problem or "number", value)
