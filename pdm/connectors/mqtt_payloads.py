"""Plain MQTT payloads: a bare number, or JSON with the number (and the source time) at a path.

Each function returns the value or raises ``PayloadError`` with one line saying what the payload
is instead, never echoing more than a short cut of it.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

MAX_PAYLOAD = 256 * 1024  # a reading is a number: a bigger payload is someone else's data
_STEP = re.compile(r"([^.\[\]]+)|\[([0-9]+)\]")
EPOCH_MS_FROM = 1e11  # a number above this is milliseconds (1e11 s is the year 5138)


class PayloadError(ValueError):
    pass


def _shown(data: bytes) -> str:
    text = data[:40].decode("utf-8", "replace")
    return repr(text + ("…" if len(data) > 40 else ""))


def parse(data: bytes, json_path: str | None) -> tuple[float, object]:
    """(value, the decoded JSON or None): a bare number when ``json_path`` is None."""
    if len(data) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(data)} bytes, larger than {MAX_PAYLOAD}")
    if json_path is None:
        try:
            return _number(json.loads(data), "payload"), None
        except (ValueError, UnicodeDecodeError):
            raise PayloadError(f"payload {_shown(data)} is not a number") from None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError(f"payload {_shown(data)} is not JSON") from None
    return _number(walk(doc, json_path), json_path), doc


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{where} is {_cut(value)}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise PayloadError(f"{where} is {number}, not a finite number")
    return number


def _cut(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def walk(doc: object, path: str) -> object:
    here = doc
    for key, index in _STEP.findall(path):
        if key:
            if not isinstance(here, dict) or key not in here:
                raise PayloadError(f"{path}: no key {key!r} in the payload")
            here = here[key]
        else:
            if not isinstance(here, list) or int(index) >= len(here):
                raise PayloadError(f"{path}: no item [{index}] in the payload")
            here = here[int(index)]
    return here


def source_time(doc: object, path: str) -> float:
    """Epoch seconds from the payload's time at ``path``: epoch s or ms, or ISO 8601 with a zone."""
    value = walk(doc, path)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value / 1000 if value > EPOCH_MS_FROM else float(value)
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise PayloadError(f"{path} is {_cut(value)}, not a time") from None
        if when.tzinfo is None:
            raise PayloadError(f"{path} is {_cut(value)}, a time without a zone (UTC or +hh:mm needed)")
        return when.timestamp()
    raise PayloadError(f"{path} is {_cut(value)}, not a time")
