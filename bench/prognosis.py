"""How good is "limit in about N days"? The trend forecast on simulated run-to-failure histories.

    .venv/bin/python bench/prognosis.py [--runs 30] [--window-days 3]

For each progressive fault of the simulated plant (bearing wear on a pump, a clogging filter on a
compressor, cooling degradation on a spindle) and ``--runs`` seeds, one history: two healthy days,
then the fault's severity ramps from 0 to 1 over a life drawn between 6 and 14 days; severity 1 is
the failure, so the true remaining time is known at every instant. A ``mad`` model is trained on
the healthy days (10-minute means of the 1-minute readings); the health indicator is its score over
its threshold, as the service computes it (``pdm.models.health``).

The limit the forecast aims at is the indicator's level at failure, learned from the first third
of the runs (calibration, as a maintenance team learns it from past failures); the other runs are
scored. At 75, 50, 25 and 10 % of each life left, once an alert would have opened (indicator over
1), the forecast of ``pdm.models.forecast`` over the last ``--window-days`` is compared with the
truth: forecasts given or withheld, median absolute error, the share of true remaining times inside
the 80 % interval. Beside it, a naive planner's figure measured on the same instants: "a failure
comes the calibration runs' median time after the first alert". Run by hand; nothing here is a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pdm.models.forecast import DAY_S, forecast
from pdm.models.mad import MADDetector
from pdm.simulator.physics import AssetModel

FAULTS = {"bearing_wear": "centrifugal_pump", "clogging_filter": "air_compressor", "cooling_failure": "cnc_spindle"}
STEP_S, MEAN_S, HEALTHY_DAYS = 60.0, 600.0, 2.0
CHECKPOINTS = (0.75, 0.5, 0.25, 0.10)  # fraction of the life left


def history(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(times, 10-minute mean readings, failure time) of one run to failure."""
    rng = np.random.default_rng(seed)
    life_s = rng.uniform(6, 14) * DAY_S
    onset = HEALTHY_DAYS * DAY_S + rng.uniform(0, 0.5) * DAY_S
    model = AssetModel(FAULTS[kind], seed=10_000 + seed)
    steps = int((onset + life_s) / STEP_S)
    rows = np.array(
        [
            list(model.step(k * STEP_S, STEP_S, {kind: min(1.0, max(0.0, (k * STEP_S - onset) / life_s))}).values())
            for k in range(steps)
        ]
    )
    per = int(MEAN_S / STEP_S)
    usable = len(rows) // per * per
    means = rows[:usable].reshape(-1, per, rows.shape[1]).mean(axis=1)
    t = (np.arange(len(means)) + 1) * MEAN_S
    return t, means, onset + life_s


def indicator(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    healthy = t < HEALTHY_DAYS * DAY_S
    det = MADDetector().fit(x[healthy])
    return det.score_samples(x) / det.threshold_


def _smoothed_at(t: np.ndarray, h: np.ndarray, at: float, span_s: float = 6 * 3600) -> float:
    rows = (t <= at) & (t > at - span_s)
    return float(np.median(h[rows]))


def _first_alert(t: np.ndarray, h: np.ndarray) -> float | None:
    # An alert as the worker would open it, roughly: an hour of 10-minute means over the threshold.
    over = np.convolve(h > 1.0, np.ones(6), mode="valid") == 6
    return float(t[np.argmax(over) + 5]) if over.any() else None


def evaluate(kind: str, runs: int, window_s: float) -> dict:
    hists = []  # (times, indicator, failure time) per run
    for s in range(runs):
        t, x, fail = history(kind, s)
        hists.append((t, indicator(t, x), fail))
    calib, test = hists[: runs // 3], hists[runs // 3 :]
    limits = [_smoothed_at(t, h, fail) for t, h, fail in calib]
    alert_to_fail = [fail - a for t, h, fail in calib if (a := _first_alert(t, h)) is not None]
    naive_life = float(np.median(alert_to_fail)) if alert_to_fail else float("nan")
    rows = []
    for t, h, fail in test:
        alert = _first_alert(t, h)
        for left in CHECKPOINTS:
            now = fail - left * (fail - HEALTHY_DAYS * DAY_S)
            if alert is None or now < alert:
                continue
            keep = (t <= now) & (t > now - window_s)
            f = forecast(t[keep], h[keep], limit=limits, end=now)
            truth = fail - now
            rows.append((left, f, truth, naive_life - (now - alert)))
    return {"limits": limits, "rows": rows, "runs": len(test)}


def _report(kind: str, res: dict) -> None:
    rows = res["rows"]
    given = [(f, truth, naive) for _, f, truth, naive in rows if f.status == "forecast"]
    print(
        f"\n{kind} ({FAULTS[kind]}): {res['runs']} scored runs, limits at failure "
        f"{min(res['limits']):.0f}–{max(res['limits']):.0f}× threshold (median {np.median(res['limits']):.0f})"
    )
    print(
        f"  instants after the first alert: {len(rows)}; "
        f"forecasts given {len(given)}, withheld {len(rows) - len(given)}"
    )
    if not given:
        return
    err = np.array([abs(f.eta_s - truth) for f, truth, _ in given]) / DAY_S
    naive = np.array([abs(n - truth) for _, truth, n in given]) / DAY_S
    covered = np.mean([f.low_s <= truth <= (f.high_s if f.high_s is not None else np.inf) for f, truth, _ in given])
    rel = np.median([abs(f.eta_s - truth) / truth for f, truth, _ in given])
    print(f"  trend median abs error {np.median(err):.2f} d (relative {rel:.0%}), worst {err.max():.2f} d")
    print(
        f"  naive planner median abs error {np.median(naive):.2f} d; "
        f"ratio trend/naive {np.median(err) / np.median(naive):.2f}"
    )
    print(f"  80 % interval covers the truth in {covered:.0%} of forecasts")
    for left in CHECKPOINTS:
        part = [(f, truth) for lf, f, truth, _ in rows if lf == left and f.status == "forecast"]
        if part:
            e = np.median([abs(f.eta_s - truth) for f, truth in part]) / DAY_S
            print(f"    {left:.0%} of life left: {len(part)} forecasts, median abs error {e:.2f} d")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--window-days", type=float, default=3.0)
    args = parser.parse_args()
    for kind in FAULTS:
        _report(kind, evaluate(kind, args.runs, args.window_days * DAY_S))


if __name__ == "__main__":
    main()
