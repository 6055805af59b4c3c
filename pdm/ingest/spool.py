"""A bounded on-disk spool for readings the database could not take.

Batches are appended as JSON lines to numbered segment files in one folder per endpoint.
Draining replays segments oldest first and deletes each one only after the database has
committed it; because readings are keyed (tag, ts) and duplicates are ignored, replaying a
segment twice after a crash stores nothing twice. When the folder passes its byte bound the
oldest segments are dropped, counted and logged: a long outage loses the oldest data, never
the disk.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, folder: Path, *, max_bytes: int, segment_bytes: int | None = None):
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes or max(1024, max_bytes // 8)
        self.dropped_rows = 0

    def _segments(self) -> list[Path]:
        if not self.folder.exists():
            return []
        return sorted(self.folder.glob("*.jsonl"), key=lambda p: int(p.stem))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._segments())

    def __len__(self) -> int:
        """Rows waiting (reads the files: for status pages and tests, not the hot path)."""
        return sum(len(json.loads(line)) for p in self._segments() for line in p.open(encoding="utf-8"))

    def append(self, rows: Sequence[dict]) -> None:
        if not rows:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        segments = self._segments()
        current = segments[-1] if segments else self.folder / "0.jsonl"
        if current.exists() and current.stat().st_size >= self.segment_bytes:
            current = self.folder / f"{int(current.stem) + 1}.jsonl"
        with current.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(list(rows), separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self._enforce_bound()

    def _enforce_bound(self) -> None:
        segments = self._segments()
        total = sum(p.stat().st_size for p in segments)
        while total > self.max_bytes and len(segments) > 1:
            oldest = segments.pop(0)
            size = oldest.stat().st_size
            lost = sum(len(json.loads(line)) for line in oldest.open(encoding="utf-8"))
            oldest.unlink()
            total -= size
            self.dropped_rows += lost
            log.warning(
                "spool %s over its bound of %d bytes: dropped %d oldest readings (%d dropped in all)",
                self.folder,
                self.max_bytes,
                lost,
                self.dropped_rows,
            )

    def drain(self, write: Callable[[list[dict]], None]) -> int:
        """Write every spooled batch in order; stop (keeping the rest) at the first failure."""
        written = 0
        for segment in self._segments():
            rows = [row for line in segment.open(encoding="utf-8") for row in json.loads(line)]
            write(rows)  # raises when the database is still down: the segment stays
            segment.unlink()
            written += len(rows)
        return written
