"""Gaps a backfill found while the database could not take them, kept on disk beside the spool.

A gap is known only to the poller that computed it: were it held in memory alone, a worker
killed during a database outage would lose it, and the stretch it covers would look read. So
each batch of gaps is appended to ``gaps.jsonl`` in the endpoint's spool folder (one JSON list
per line, fsynced) before the poller relies on it, and forgotten only once the transaction
that recorded it committed (``peek``, then ``commit``), as the spool's readings are. A worker
killed in between records the same gaps again, which changes nothing (``pdm.storage.gaps``
merges a gap already recorded). Whoever replays the folder's spool replays its gaps: the next
poller of the endpoint on the same folder, or ``drain`` for a dead worker's folder.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from pdm.storage.gaps import record_gaps

log = logging.getLogger(__name__)
FILE = "gaps.jsonl"


class PendingGaps:
    """The gaps of one spool folder not yet in the database, in memory and on disk."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / FILE
        # A backfill adds in the event loop while the writer's thread records and commits.
        self._lock = threading.Lock()
        self._gaps: list[dict] = self._load()

    def _load(self) -> list[dict]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        gaps: list[dict] = []
        whole = data[: data.rfind(b"\n") + 1]  # a line a kill cut short was never handed over
        for line in whole.splitlines():
            try:
                gaps.extend(dict(g) for g in json.loads(line))
            except (ValueError, TypeError):
                log.warning("%s: skipped a line that does not read as gaps", self.path)
        if len(whole) < len(data):
            with self.path.open("r+b") as fh:
                fh.truncate(len(whole))
        return gaps

    def __len__(self) -> int:
        return len(self._gaps)

    def add(self, gaps: Sequence[dict]) -> None:
        """Keep ``gaps`` until committed; on disk before this returns (unless the disk refuses)."""
        if not gaps:
            return
        line = (json.dumps(list(gaps), separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab") as fh:
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:  # a full disk: kept in memory, lost only if the worker dies too
                log.warning("%s: %d gaps kept in memory only: %s", self.path, len(gaps), exc)
            self._gaps.extend(gaps)

    def peek(self) -> list[dict]:
        """The gaps waiting, oldest first: record them, then ``commit`` what was recorded."""
        with self._lock:
            return list(self._gaps)

    def commit(self, recorded: Sequence[dict]) -> None:
        """The database has ``recorded`` (a ``peek``): forget them, keeping what was added since."""
        if not recorded:
            return
        with self._lock:
            self._gaps = self._gaps[len(recorded) :]
            if not self._gaps:
                self.path.unlink(missing_ok=True)
                return
            # Replaced in one step: a kill leaves the old file (gaps recorded twice, harmlessly) or the new one.
            tmp = self.path.with_name(f".{FILE}.tmp")
            with tmp.open("wb") as fh:
                fh.write((json.dumps(self._gaps, separators=(",", ":")) + "\n").encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)


def record(session: Session, gaps: list[dict], *, name: str) -> None:
    """Record ``gaps`` in ``session``; gaps of an endpoint or tag deleted meanwhile are logged and let go."""
    if not gaps:
        return
    try:
        with session.begin_nested():
            record_gaps(session, gaps)
    except ValueError as exc:  # nothing is left to mark: keeping them would retry forever
        log.warning("endpoint %s: %d gaps not recorded: %s", name, len(gaps), exc)


def drain(folder: Path, sessions: sessionmaker[Session]) -> int:
    """Record the gaps a dead worker left in ``folder``, in one transaction; returns how many. Raises the
    database's errors: the file then stays for the next try."""
    pending = PendingGaps(folder)
    gaps = pending.peek()
    if not gaps:
        return 0
    with sessions.begin() as session:
        record(session, gaps, name=folder.name)
    pending.commit(gaps)
    return len(gaps)
