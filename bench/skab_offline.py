"""A fast stand-in for the SKAB service replay, to compare alert rules and settings before a full run.

Usage: python bench/skab_offline.py [SKAB folder] [--detector rebase] [--smooth-rows 1] [--debounce-rows 4]
       [--return-to-normal-rows 30] [--silent-min 30] [--files ...] [--check N]

It fits with the worker's own ``pdm.models.training.fit`` on each file's first 400 rows (features,
choice, alarm budget) and scores the rest in one ``score_run``, then opens alerts with
``pdm.alerts.simulate.simulate_openings`` (the rule the worker's ``evaluate`` follows, nobody
closing an alert: episodes end when the alert returns to normal). No database: about 1 s for all
34 files instead of ~20 s. ``--check N`` replays the first N files through ``pdm.bench.replay``
too and says whether the flagged rows agree; the published figures always come from
``pdmctl bench skab``.
"""

from __future__ import annotations

import argparse

import numpy as np

from pdm.alerts.simulate import simulate_openings
from pdm.bench import skab
from pdm.bench.metrics import binary_counts
from pdm.bench.skab_service import ServiceSetting, add_setting_arguments, as_series, files_and_setting
from pdm.config import DetectionConfig
from pdm.models.features import causal_rolling_mean, wide_frame
from pdm.models.training import fit, median_spacing


def scored(f: skab.SkabFile, detection: DetectionConfig) -> tuple[np.ndarray, np.ndarray, float]:
    """(times, scores, threshold) of the test rows, as the worker would score them."""
    frame = as_series(f).frame
    t0 = float(frame.index[skab.TRAIN_ROWS - 1])
    long = frame.stack().reset_index()
    long.columns = ["ts", "tag", "value"]
    long["quality"] = 0
    grid = wide_frame(long[long["ts"] <= t0])
    feats = causal_rolling_mean(wide_frame(long, freq_s=median_spacing(grid)), detection.smooth_rows)
    detector, _ = fit(feats.loc[feats.index <= t0].tail(detection.train_max_rows), detection)
    test = feats.loc[feats.index > t0, list(detector.feature_names_in_)]
    scores = detector.score_run(test, None).scores if detector.sequential else detector.score_samples(test)
    return test.index.to_numpy(dtype=float), np.asarray(scores), float(detector.threshold_)


def flagged(
    raw: np.ndarray, t: np.ndarray, scores: np.ndarray, threshold: float, detection: DetectionConfig
) -> np.ndarray:
    out = np.zeros(len(raw), dtype=np.int8)
    spans = simulate_openings(
        t,
        scores,
        threshold,
        debounce_rows=detection.debounce_rows,
        silent_period_min=detection.silent_period_min,
        return_to_normal_rows=detection.return_to_normal_rows,
    )
    for a in spans:
        out[(raw >= a.opened_at) & (raw <= a.last_seen_at)] = 1
    return out


def evaluate(files, setting: ServiceSetting) -> tuple[float, float, float, dict]:
    detection = setting.detection()
    preds = {}
    for f in files:
        t, s, thr = scored(f, detection)
        raw = as_series(f).frame.index.to_numpy(dtype=float)[skab.TRAIN_ROWS :]
        preds[f.name] = flagged(raw, t, s, thr, detection)
    c = binary_counts((f.anomaly[skab.TRAIN_ROWS :], preds[f.name]) for f in files)
    return c.f1, c.far, c.mar, preds


def main() -> None:
    p = argparse.ArgumentParser()
    add_setting_arguments(p)
    p.add_argument("--check", type=int, default=0)
    args = p.parse_args()
    files, setting = files_and_setting(args)
    f1, far, mar, preds = evaluate(files, setting)
    print(f"{setting.label()}: F1 {f1:.3f} FAR {far:.2f} MAR {mar:.2f}")
    if args.check:
        from concurrent.futures import ProcessPoolExecutor

        from pdm.bench.skab_service import flagged as replayed

        chosen = files[: args.check]
        with ProcessPoolExecutor(2) as pool:
            got = list(pool.map(replayed, chosen, [setting] * len(chosen)))
        for f, r in zip(chosen, got):
            if not np.array_equal(r, preds[f.name]):
                print(f"{f.name}: replay DIFFERS ({int(r.sum())} vs {int(preds[f.name].sum())} rows)")
        c = binary_counts((f.anomaly[skab.TRAIN_ROWS :], r) for f, r in zip(chosen, got))
        print(f"replayed: F1 {c.f1:.3f} FAR {c.far:.2f} MAR {c.mar:.2f}")


if __name__ == "__main__":
    main()
