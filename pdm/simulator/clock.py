"""The simulated clock: simulated epoch seconds running ``speed`` times faster than the wall."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SimClock:
    """Simulated epoch seconds: ``start`` plus ``speed`` times the wall time since creation."""

    def __init__(self, start: float, speed: float):
        self.start, self.speed = float(start), float(speed)
        self.t0 = time.monotonic()  # wall (monotonic) origin

    def elapsed(self) -> float:
        """Simulated seconds since ``start``."""
        return self.speed * (time.monotonic() - self.t0)

    def now(self) -> float:
        return self.start + self.elapsed()

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)
