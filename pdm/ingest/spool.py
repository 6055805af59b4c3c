"""A bounded on-disk spool for readings the database could not take.

Batches are appended to numbered segment files in one folder per endpoint, one line per batch:
the row count, a tab, the rows as a JSON list (fsynced: a batch the poller handed over survives
a crash of the worker). Draining takes bounded batches from the oldest segment (``peek``) and
advances past them only once the caller says the database committed them (``commit``): a
worker killed mid-replay replays that batch again, and because readings are keyed (tag, ts)
and duplicates are ignored, nothing is stored twice and nothing is lost.

Sizes and row counts are kept in memory, read from disk once when the spool is opened (the
count before each tab, not the JSON), so status pages and lease renewals never re-read a
large spool. When the folder passes its byte bound the oldest segments are dropped, counted
and logged: a long outage loses the oldest data, never the disk.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
DRAIN_BATCH_ROWS = 20_000  # one replay transaction: long enough to be efficient, short enough not to stall


@dataclass
class _Segment:
    path: Path
    bytes: int
    rows: int


@dataclass(frozen=True)
class Batch:
    """Rows taken from the head of the spool, to ``commit`` once the database has them."""

    rows: list[dict]
    segment: Path
    end: int  # byte offset in the segment after these rows
    last: bool  # these rows end the segment


def _line_rows(line: bytes) -> int:
    head, tab, _ = line.partition(b"\t")
    if tab and head.isdigit():
        return int(head)
    return len(json.loads(line))  # a line written before counts were kept: a bare JSON list


def _parse(line: bytes) -> list[dict]:
    head, tab, body = line.partition(b"\t")
    return json.loads(body if tab and head.isdigit() else line)


class Spool:
    def __init__(self, folder: Path, *, max_bytes: int, segment_bytes: int | None = None):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(1024, max_bytes // 8)
        self.dropped_rows = 0
        self.damaged_lines = 0  # lines a crash cut or that do not read: skipped, counted
        files = self._files()
        if files:
            self._cut_torn_tail(files[-1])
        self._segments = [self._open(p) for p in files]
        self._head_offset = 0  # bytes of the oldest segment already committed
        self._head_rows = 0  # rows of the oldest segment already committed

    def _files(self) -> list[Path]:
        if not self.folder.exists():
            return []
        # Numbered segments only: other files live beside them (the gaps waiting, pdm.ingest.pending_gaps).
        return sorted((p for p in self.folder.glob("*.jsonl") if p.stem.isdigit()), key=lambda p: int(p.stem))

    def _cut_torn_tail(self, path: Path) -> None:
        """A worker killed in the middle of an append leaves half a line: cut it, so the next append
        starts a line of its own (those rows were never handed over: the append had not returned)."""
        with path.open("r+b") as fh:
            data = fh.read()
            if not data or data.endswith(b"\n"):
                return
            keep = data.rfind(b"\n") + 1
            fh.truncate(keep)
        self.damaged_lines += 1
        log.warning("spool %s: cut an append a crash interrupted at the end of %s", self.folder, path.name)

    def _open(self, path: Path) -> _Segment:
        rows = 0
        with path.open("rb") as fh:
            for line in fh:
                try:
                    rows += _line_rows(line)
                except ValueError:
                    pass  # counted as damaged when replayed
        return _Segment(path, path.stat().st_size, rows)

    @property
    def rows(self) -> int:
        """Rows waiting, from memory."""
        return sum(s.rows for s in self._segments) - self._head_rows

    def __len__(self) -> int:
        return self.rows

    def size_bytes(self) -> int:
        return sum(s.bytes for s in self._segments)

    def append(self, rows: Sequence[dict]) -> None:
        if not rows:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._segments or self._segments[-1].bytes >= self.segment_bytes:
            number = int(self._segments[-1].path.stem) + 1 if self._segments else 0
            self._segments.append(_Segment(self.folder / f"{number}.jsonl", 0, 0))
        current = self._segments[-1]
        line = f"{len(rows)}\t{json.dumps(list(rows), separators=(',', ':'))}\n".encode()
        with current.path.open("ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        current.bytes += len(line)
        current.rows += len(rows)
        self._enforce_bound()

    def _enforce_bound(self) -> None:
        total = self.size_bytes()
        while total > self.max_bytes and len(self._segments) > 1:
            oldest = self._segments.pop(0)
            lost = oldest.rows - self._head_rows
            self._head_offset = self._head_rows = 0
            oldest.path.unlink(missing_ok=True)
            total -= oldest.bytes
            self.dropped_rows += lost
            log.warning(
                "spool %s over its bound of %d bytes: dropped %d oldest readings (%d dropped in all)",
                self.folder,
                self.max_bytes,
                lost,
                self.dropped_rows,
            )

    def peek(self, max_rows: int = DRAIN_BATCH_ROWS) -> Batch | None:
        """The oldest rows not yet committed (whole batches, about ``max_rows``), or None when empty."""
        while self._segments:
            head = self._segments[0]
            rows: list[dict] = []
            with head.path.open("rb") as fh:
                fh.seek(self._head_offset)
                end = self._head_offset
                for line in fh:
                    end += len(line)
                    try:
                        rows.extend(_parse(line))
                    except ValueError:
                        self.damaged_lines += 1
                        log.warning("spool %s: skipped an unreadable line in %s", self.folder, head.path.name)
                    if len(rows) >= max_rows:
                        break
            last = end >= head.bytes
            if rows or not last:
                return Batch(rows, head.path, end, last)
            self._drop_head()  # nothing readable left in it
        return None

    def commit(self, batch: Batch) -> None:
        """The database has ``batch``: move past it (deleting its segment once fully stored)."""
        if not self._segments or self._segments[0].path != batch.segment:
            return  # its segment was dropped by the bound meanwhile
        if batch.last and self._segments[0].bytes <= batch.end:  # nothing appended to it since
            self._drop_head()
        else:
            self._head_offset = batch.end
            self._head_rows += len(batch.rows)

    def _drop_head(self) -> None:
        head = self._segments.pop(0)
        head.path.unlink(missing_ok=True)
        self._head_offset = self._head_rows = 0

    def drain(self, write: Callable[[list[dict]], None], *, max_rows: int = DRAIN_BATCH_ROWS) -> int:
        """Replay everything, one committed ``write`` per batch; a failure keeps what was not written.

        ``write`` must commit before it returns: a batch is forgotten only after it.
        """
        written = 0
        while (batch := self.peek(max_rows)) is not None:
            write(batch.rows)  # raises when the database is still down: the batch stays
            self.commit(batch)
            written += len(batch.rows)
        return written
