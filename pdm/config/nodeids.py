"""OPC UA node ids, checked when the file is loaded rather than when the poller first reads.

asyncua's own parser (``ua.NodeId.from_string``, which the connector uses) decides the syntax;
on top of it, what the parser lets through but no server could serve is refused: an empty
string identifier, a namespace index or numeric identifier out of its OPC UA range (UInt16,
UInt32), both ``ns=`` and ``nsu=``, a node on another server (``srv=``), a part the parser
silently ignores (``x=1;i=5``) or a part given twice.
"""

from __future__ import annotations

from typing import Any

MAX_CHARS = 4096
_KEYS = {"ns", "nsu", "srv", "i", "s", "g", "b"}
_EXAMPLE = "e.g. nsu=urn:plant;s=Pump1.Flow, ns=2;s=Pump1.Flow or ns=2;i=1001"
_WHAT = {
    "ns": "ns= must be a namespace index (a number)",
    "srv": "srv= must be a server index (a number)",
    "i": "i= must be a number",
    "g": "g= must be a GUID (8-4-4-4-12 hex digits)",
    "b": "b= must be base64 or 0x followed by hex digits",
}


def _parts(text: str) -> list[tuple[str, str]]:
    """``(key, value)`` pairs left to right, as asyncua reads them (``s=`` takes the rest)."""
    out = []
    elements = text.split(";")
    while elements:
        element = elements.pop(0)
        if not element:
            continue
        key, sep, value = element.partition("=")
        key = key.strip()
        if key == "s":
            value, elements = ";".join((value, *elements)), []
        out.append((key if sep else "", value))
    return out


def _syntax_problem(text: str) -> str:
    for key, value in _parts(text):
        if not key:
            return f"a part is not key=value ({_EXAMPLE})"
        if key in _WHAT:
            try:
                from asyncua import ua

                ua.NodeId.from_string(f"{key}={value}" if key != "ns" else f"ns={value};i=0")
            except Exception:
                return _WHAT[key]
    return f"no identifier: expected i=, s=, g= or b= ({_EXAMPLE})"


def node_id_problem(text: str) -> str | None:
    """Why ``text`` is not a node id this service can read, or None when it is one."""
    from asyncua import ua  # here, not at the top: most commands never load a plant file

    if len(text) > MAX_CHARS:
        return f"longer than {MAX_CHARS} characters"
    try:
        node = ua.NodeId.from_string(text)
    except Exception:  # asyncua raises UaStringParsingError, ValueError and others for malformed ids
        return _syntax_problem(text)
    keys = [key for key, _ in _parts(text)]
    unknown = sorted(set(keys) - _KEYS)
    if unknown:
        return f"unknown part {unknown[0][:20]}= (known: ns, nsu, i, s, g, b)"
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated or sum(key in ("i", "s", "g", "b") for key in keys) > 1:
        return f"{repeated[0] + '=' if repeated else 'an identifier'} given twice"
    if "ns" in keys and "nsu" in keys:
        return "give ns= or nsu=, not both"
    if "srv" in keys:
        return "srv= names a node on another server, which an endpoint cannot read"
    if "nsu" in keys and not getattr(node, "NamespaceUri", None):
        return "nsu= names no namespace URI"
    if not 0 <= node.NamespaceIndex <= 0xFFFF:
        return "ns= must be a namespace index from 0 to 65535"
    identifier: Any = node.Identifier
    if node.NodeIdType in (ua.NodeIdType.Numeric, ua.NodeIdType.TwoByte, ua.NodeIdType.FourByte):
        if not 0 <= identifier <= 0xFFFF_FFFF:
            return "i= must be from 0 to 4294967295"
    elif node.NodeIdType == ua.NodeIdType.String:
        if not str(identifier).strip():
            return "s= has an empty identifier"
    elif node.NodeIdType == ua.NodeIdType.ByteString and not identifier:
        return "b= has an empty identifier"
    return None
