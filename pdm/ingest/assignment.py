"""The endpoints a worker last polled, kept beside its spool for a restart during a database outage.

Readings are stored by tag id, and only the database knows the tags: a worker started while it
is down would have nothing to poll. So each worker writes what it polls (endpoint ids, names,
settings and node→tag maps) to ``<spool root>/<worker id>/assignment.json`` whenever that
changes, and a worker that cannot reach the database at start takes over the assignments of
the dead workers of its host: it holds their folders' locks (which also keeps anyone from
replaying their spools meanwhile) until the database is back and their leases are its own.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
FILE = "assignment.json"
LOCK_FILE = ".lock"


@dataclass(frozen=True)
class Assigned:
    endpoint_id: int
    name: str
    company_id: int
    settings: dict
    tags: dict[str, list[int]]  # node id -> tag ids

    @property
    def signature(self) -> tuple:
        """What ``EndpointShare`` compares to know a poller is still right for its endpoint."""
        pairs = frozenset((node, tag) for node, tags in self.tags.items() for tag in tags)
        return (repr(sorted(self.settings.items())), pairs)


def save(folder: Path, items: list[Assigned]) -> None:
    """Replace the file in one step (write, fsync, rename): a crash leaves the old one or the new one."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{FILE}.tmp"
    data = [item.__dict__ for item in sorted(items, key=lambda i: i.endpoint_id)]
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / FILE)


def load(folder: Path) -> list[Assigned]:
    path = folder / FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [
            Assigned(
                endpoint_id=int(d["endpoint_id"]),
                name=str(d["name"]),
                company_id=int(d["company_id"]),
                settings=dict(d["settings"]),
                tags={str(n): [int(t) for t in ts] for n, ts in d["tags"].items()},
            )
            for d in data
        ]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring %s: it does not read as an assignment (%s)", path, exc)
        return []


@dataclass
class Adopted:
    """Dead workers' assignments, with their folders' locks held until ``release``."""

    workers: list[str] = field(default_factory=list)
    endpoints: list[Assigned] = field(default_factory=list)
    _fds: list[int] = field(default_factory=list)

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()


def adopt(spool_root: Path, worker_id: str) -> Adopted:
    """Lock every dead worker's folder of this host that has an assignment; the newest file wins per endpoint."""
    adopted = Adopted()
    found: dict[int, tuple[float, Assigned]] = {}
    if not spool_root.exists():
        return adopted
    for folder in sorted(p for p in spool_root.iterdir() if p.is_dir() and p.name != worker_id):
        if not (folder / FILE).exists():
            continue
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its worker is alive (or another one adopted it first)
            os.close(fd)
            continue
        items = load(folder)
        if not items:
            os.close(fd)
            continue
        adopted.workers.append(folder.name)
        adopted._fds.append(fd)
        mtime = (folder / FILE).stat().st_mtime
        for item in items:
            if item.endpoint_id not in found or found[item.endpoint_id][0] < mtime:
                found[item.endpoint_id] = (mtime, item)
    adopted.endpoints = [item for _, item in sorted(found.values(), key=lambda f: f[1].endpoint_id)]
    return adopted
