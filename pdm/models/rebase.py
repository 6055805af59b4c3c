"""Robust per-sensor baseline that re-learns its location after an alarm episode has passed."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from pdm.models.base import RunScores
from pdm.models.mad import MADDetector


class RebaselineMADDetector(MADDetector):
    """The ``mad`` score, plus causal re-baselining after an excursion has gone back.

    A process often settles at a slightly different level after a fault or an intervention (a
    valve reopened: the flow returns near, not to, its old level). A fixed baseline then alarms
    for the rest of the run. Here, inside an alarm episode, the detector remembers the episode's
    peak score and the sensor that made it. Once that sensor's squared z-score has stayed below
    ``return_ratio`` x the peak for ``settle_rows`` consecutive rows (the excursion went back),
    the baseline moves to the mean of those rows and each sensor's scale widens to at least the
    range those rows covered (the new level is only known that well). A fault that holds its
    level keeps alarming: nothing is re-learned without a return from the peak.

    **Sequential scoring.** ``score_samples``, ``predict`` and ``explain`` read ``X`` as ONE
    time-ordered run of rows that directly follows training; a row's score depends on that row
    and the earlier rows of the same call, never on a later one. Every call starts again from the
    fitted baseline: no state is carried from one call to the next, so results do not depend on
    how often the detector was called before, and it stays picklable and thread-safe. Scoring a
    short window of recent rows therefore sees only re-baselining that happens inside the window.
    Training rows are scored against the fitted baseline (no threshold exists yet while fitting).
    A caller that scores a run in batches uses ``score_run``, which takes and returns where the
    previous batch left off (``pdm.models.scoring`` keeps it in ``detector_states``).
    """

    version = "1"
    #: ``score_samples`` reads X as one time-ordered run: rows must not be shuffled or split.
    sequential = True

    def __init__(
        self,
        *,
        drift_floor: float = 0.1,
        level_floor: float = 0.002,
        return_ratio: float = 0.25,
        settle_rows: int = 30,
        threshold_quantile: float = 0.995,
        threshold_margin: float = 1.2,
    ):
        super().__init__(
            drift_floor=drift_floor,
            level_floor=level_floor,
            threshold_quantile=threshold_quantile,
            threshold_margin=threshold_margin,
        )
        self.return_ratio = return_ratio
        self.settle_rows = settle_rows

    def _check_params(self) -> None:
        super()._check_params()
        r, s = self.return_ratio, self.settle_rows
        if isinstance(r, bool) or not isinstance(r, Real) or not 0.0 < r < 1.0:
            raise ValueError(f"return_ratio must be in (0, 1), got {r!r}")
        if isinstance(s, bool) or not isinstance(s, Integral) or s < 2:
            raise ValueError(f"settle_rows must be an int >= 2, got {s!r}")

    def _z2(self, X: np.ndarray) -> np.ndarray:
        z2 = super()._z2(X)
        if hasattr(self, "threshold_"):  # absent only while calibrating on the training rows
            self._walk(X, z2)
        return z2

    def score_run(self, X, state: dict | None = None) -> RunScores:
        """Scores, contributions (squared z-scores) and how far from the fitted baseline each row
        was scored, of ``X``, the rows that follow where ``state`` (None: the end of training) left off; and the
        state to pass with the next rows.

        The state holds the baseline in effect and, inside an alarm episode still open, its peak
        score and sensor. ``state["resume_row"]`` is the first row of the calm rows counted so far
        toward a return (fewer than ``settle_rows``; None when there are none): the next call must
        start again from that row, followed by the new ones, and keep only the new rows' scores.
        Cut this way, a run scored in any number of calls gets the scores of one call over the
        whole run, and no call needs more than ``settle_rows`` rows it has already seen.
        """
        data = self._check_input(X)
        center = self.center_ if state is None else np.asarray(state["center"], dtype=float)
        scale = self.scale_ if state is None else np.asarray(state["scale"], dtype=float)
        z2 = ((data - center) / scale) ** 2
        episode = (state or {}).get("episode")
        lead = 0
        if episode is not None:
            # The open episode's peak as a first row: the walk then goes on as if it had seen the
            # whole episode (calm rows are counted after the peak; the peak row is never averaged).
            peak_row = np.zeros((1, z2.shape[1]))
            peak_row[0, int(episode["sensor"])] = float(episode["peak"])
            z2, data, lead = np.vstack([peak_row, z2]), np.vstack([data[:1], data]), 1
        centers = np.repeat(center[None, :], len(data), axis=0)
        center, scale, start = self._walk(data, z2, center, scale, centers)
        episode, resume = self._open_episode(z2, start)
        resume = None if resume is None else resume - lead
        state = {"center": center.tolist(), "scale": scale.tolist(), "episode": episode, "resume_row": resume}
        return RunScores(z2[lead:].max(axis=1), z2[lead:], centers[lead:] - self.center_, state)

    def _open_episode(self, z2: np.ndarray, start: int) -> tuple[dict | None, int | None]:
        """The episode still open at the last row (its peak and sensor), and where its current
        run of calm rows began; (None, None) when the last row is outside an episode."""
        score = z2[start:].max(axis=1)
        if not len(score) or score[-1] <= self.threshold_:
            return None, None
        below = np.flatnonzero(score <= self.threshold_)
        rows = start + np.arange(int(below[-1]) + 1 if len(below) else 0, len(score))
        peak, sensor, calm = self._episode(z2, rows)
        calm_run = len(calm) - int(np.flatnonzero(~calm)[-1]) - 1  # the peak's own row is never calm
        episode = {"peak": float(peak[-1]), "sensor": int(sensor[-1])}
        return episode, int(rows[-calm_run]) if calm_run else None

    def _episode(self, z2: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Along one episode's rows: the running peak score, its sensor, and which rows are calm."""
        s = z2[rows].max(axis=1)
        peak = np.maximum.accumulate(s)
        new_peak = np.r_[True, s[1:] > peak[:-1]]
        peak_row = rows[np.maximum.accumulate(np.where(new_peak, np.arange(len(rows)), 0))]
        sensor = z2[peak_row].argmax(axis=1)
        calm = ~new_peak & (z2[rows, sensor] < self.return_ratio * peak)
        return peak, sensor, calm

    def _walk(
        self,
        X: np.ndarray,
        z2: np.ndarray,
        center: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        centers: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Rewrite ``z2`` (and ``centers``, each row's baseline) in place, re-baselining wherever
        an episode has gone back; returns the baseline in effect at the end and the row from which
        it applies."""
        start = 0
        center = self.center_ if center is None else center
        scale = self.scale_ if scale is None else scale
        while (i := self._first_return(z2[start:])) is not None:
            i += start
            recent = X[i - int(self.settle_rows) + 1 : i + 1]
            center, scale = recent.mean(axis=0), np.maximum(self.scale_, np.ptp(recent, axis=0))
            z2[i + 1 :] = ((X[i + 1 :] - center) / scale) ** 2
            if centers is not None:
                centers[i + 1 :] = center
            start = i + 1  # the next episode starts afresh after the re-baselined row
        return center, scale, start

    def _first_return(self, z2: np.ndarray) -> int | None:
        """The first row that completes ``settle_rows`` calm rows inside an episode, if any.

        Row by row this is: outside an episode (score <= threshold) forget everything; a new
        peak score records itself and its sensor and resets the calm count; otherwise a row
        where the peak's sensor is below ``return_ratio`` x peak counts as calm, any other row
        resets the count. Done per episode with running maxima instead of a Python row loop.
        """
        settle = int(self.settle_rows)
        score = z2.max(axis=1)
        alarmed = np.flatnonzero(score > self.threshold_)
        episodes = np.split(alarmed, np.flatnonzero(np.diff(alarmed) > 1) + 1)
        for rows in (e for e in episodes if len(e) > settle):
            _, _, calm = self._episode(z2, rows)
            total = np.cumsum(calm)
            run = total - np.maximum.accumulate(np.where(calm, 0, total))
            hit = np.flatnonzero(run >= settle)
            if len(hit):
                return int(rows[hit[0]])
        return None
