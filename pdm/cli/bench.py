"""`pdmctl bench`: detection quality on public benchmarks, following their published protocol."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks of the detectors on public data.", no_args_is_help=True)

# Published SKAB leaderboard (waico/SKAB README at b2c0d46): F1, FAR %, MAR %.
LEADERBOARD = [
    ("Conv-AE", 0.78, 13.55, 28.02),
    ("MSET", 0.78, 39.73, 14.13),
    ("T-squared+Q (PCA)", 0.76, 26.62, 24.92),
    ("LSTM-AE", 0.74, 29.96, 25.92),
    ("T-squared", 0.66, 19.21, 42.6),
    ("Isolation forest", 0.29, 2.56, 82.89),
]
LABEL = 96  # wide enough for a detector's full setting, so columns stay aligned
NAB_LEADERBOARD = [
    ("MSCRED", 32.42, 16.53, 40.28),
    ("Isolation forest", 26.16, 19.5, 30.82),
    ("T-squared+Q (PCA)", 25.35, 14.51, 31.33),
    ("Conv-AE", 23.61, 21.54, 27.55),
    ("MSET", 13.84, 10.22, 17.37),
]


@bench_app.command("skab")
def skab(
    data: Annotated[Path, typer.Option(help="SKAB folder (holding data/ or valve1/, valve2/, other/).")] = Path(
        "../shared/data/skab"
    ),
    predictions: Annotated[
        Path, typer.Option(help="Write test-row predictions here (CSV file,datetime,anomaly).")
    ] = ...,
    detector: Annotated[str, typer.Option(help="Registered detector name (with --direct).")] = "",
    files: Annotated[str | None, typer.Option(help="Only these files, comma-separated (e.g. valve1/0.csv).")] = None,
    direct: Annotated[
        bool, typer.Option(help="Score the bare detector on the files instead of replaying them through the service.")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes replaying files side by side.")] = 2,
) -> None:
    """Run the SKAB outlier-detection protocol: train on each file's first 400 rows, score the rest.

    By default every file is replayed through the service's own path (``pdmctl bench replay``:
    storage, training with the alarm budget, scheduled scoring, debounce, alerts) and the rows
    inside the alerts the worker opened are scored; --direct scores a bare detector instead.
    """
    from pdm.bench import skab as bench
    from pdm.errors import ConfigError
    from pdm.models import DETECTORS

    only = files.split(",") if files else None
    if detector and not direct:
        raise ConfigError("--detector", "detector", detector, "only with --direct; the replay uses its own grid")
    bench.data_root(data)  # one-line error for a bad path before any work
    started = time.perf_counter()
    if direct:
        name = detector or bench.DEFAULT_DETECTOR
        if name not in DETECTORS:
            raise ConfigError("--detector", "detector", name, f"unknown; known: {', '.join(sorted(DETECTORS))}")
        fixed = bench.DEFAULT_SETTINGS.get(name, bench.FALLBACK_SETTING)
        report = bench.run(data, name, fixed, only=only)
    else:
        from pdm.bench import skab_service

        report = skab_service.run(data, only=only, workers=workers)
    bench.write_predictions(predictions, report.files, report.result.predictions)
    _print(report, time.perf_counter() - started, predictions)


@bench_app.command("replay")
def replay(
    csv: Annotated[Path, typer.Argument(help="Labelled CSV: a timestamp column, one numeric column per tag.")],
    timestamp: Annotated[
        str | None, typer.Option(help="Timestamp column (default: timestamp, datetime, time, ts).")
    ] = None,
    label: Annotated[str | None, typer.Option(help="0/1 label column (default: anomaly/label, if present).")] = None,
    windows: Annotated[Path | None, typer.Option(help="CSV of fault windows with start and end columns.")] = None,
    ignore: Annotated[str | None, typer.Option(help="Columns to drop, comma-separated.")] = None,
    train_fraction: Annotated[float, typer.Option(help="Share of rows the first model trains on.")] = 0.3,
    train_rows: Annotated[int | None, typer.Option(help="Rows the first model trains on (instead of a share).")] = None,
    batch_s: Annotated[float, typer.Option(help="Data seconds stored between two scoring runs.")] = 300.0,
    config: Annotated[Path | None, typer.Option(help="Plant file whose detection: settings are used.")] = None,
) -> None:
    """Replay a labelled series through the worker's own training and scoring, and report the alerts.

    Format: a header line (delimiter , ; or tab); ISO 8601 or epoch-second times, strictly increasing;
    an empty cell is a missing reading; labels as a 0/1 column (each run of 1 is one fault window) or
    --windows FILE with start,end. The model trains on the first part, then the rest is stored
    --batch-s at a time, each followed by the worker's train and score jobs.
    """
    from pdm.bench.replay import replay as run_replay
    from pdm.bench.replay import train_rows_for
    from pdm.bench.series import load_series
    from pdm.config import DetectionConfig, load_plants

    detection = load_plants(config).detection if config else DetectionConfig()
    series = load_series(
        csv, timestamp=timestamp, label=label, windows=windows, ignore=tuple(c for c in (ignore or "").split(",") if c)
    )
    started = time.perf_counter()
    rows = train_rows_for(series, train_fraction, train_rows)
    result = run_replay(series, detection, train_rows=rows, batch_s=batch_s)
    days = (result.scored_to - result.scored_from) / 86_400
    print(
        f"{series.name}: {len(series.frame.columns)} tags, {len(series.frame)} rows; trained on {rows}, "
        f"scored {len(series.frame) - rows} ({days:.2f} days) in batches of {batch_s:g} s"
    )
    print(f"model: {result.model}")
    print(
        event_table([("service", result.figures()), ("always alarm", result.always()), ("never alarm", result.never())])
    )
    print(f"{time.perf_counter() - started:.1f} s")


@bench_app.command("month")
def month(
    plants: Annotated[Path, typer.Option(help="Plant file whose assets are simulated.")] = Path(
        "config/plants.example.yaml"
    ),
    schedule: Annotated[
        Path, typer.Option(help="The month: simulation: (start, seed, operation, faults) and optional detection:.")
    ] = Path("bench/simulated_month.yaml"),
    days: Annotated[float, typer.Option(min=2, max=366, help="Simulated days.")] = 30.0,
    train_days: Annotated[float, typer.Option(min=1, help="Days each asset's first model trains on.")] = 7.0,
    step_s: Annotated[float, typer.Option(min=1, help="Simulated seconds between two rows.")] = 60.0,
    batch_s: Annotated[float, typer.Option(min=1, help="Data seconds stored between two scoring runs.")] = 3600.0,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes replaying assets side by side.")] = 2,
) -> None:
    """Simulate a month of the plant in real operation (shifts, weekends, ambient cycle, products,
    drift, stuck sensors, maintenance) with its injected faults, offline, and replay every asset
    through the worker's own training and scoring; print faults caught and missed, lead times and
    false alerts per 30 days against the alarm budget."""
    from pdm.bench import simulated_month as sm

    started = time.perf_counter()
    plant = sm.load_month(plants, schedule)
    results = sm.run(plant, days=days, step_s=step_s, train_days=train_days, batch_s=batch_s, workers=workers)
    print(f"{days:g} simulated days, a row every {step_s:g} s; first model on {train_days:g} days")
    print(sm.table(results, plant.detection.false_alerts_per_month))
    for line in sm.false_alert_times(results):
        print(line)
    print(f"{time.perf_counter() - started:.1f} s")


def event_table(rows) -> str:
    head = (
        f"{'':14} {'faults':>6} {'caught':>6} {'missed':>6} {'false':>7} {'false/30d':>9} "
        f"{'lead med':>9} {'lead max':>9} {'NAB std':>8}"
    )
    lines = [head]
    for name, f in rows:
        med = "-" if f.median_lead_s is None else f"{f.median_lead_s:.0f} s"
        worst = "-" if f.worst_lead_s is None else f"{f.worst_lead_s:.0f} s"
        lines.append(
            f"{name:14} {f.faults:6d} {f.caught:6d} {f.missed:6d} {f.false_alerts:7d} "
            f"{f.false_per_month:9.1f} {med:>9} {worst:>9} {f.nab['standard']:8.2f}"
        )
    return "\n".join(lines)


def _print(report, seconds: float, predictions: Path) -> None:
    head = f"{'':{LABEL}} {'F1':>6} {'FAR %':>7} {'MAR %':>7} {'NAB std':>8} {'low FP':>7} {'low FN':>7}"
    r = report.result
    lines = [
        head,
        _line(f"ours: {report.detector} ({report.fixed.label()})", r),
        _line("always alarm", report.always_on),
        _line("null detector", report.null),
    ]
    lines += [f"{'published: ' + n:{LABEL}} {f1:6.2f} {far:7.2f} {mar:7.2f}" for n, f1, far, mar in LEADERBOARD]
    lines += [
        f"{'published: ' + n:{LABEL}} {'':6} {'':7} {'':7} {a:8.2f} {b:7.2f} {c:7.2f}" for n, a, b, c in NAB_LEADERBOARD
    ]
    lines += ["", "group-held-out selection (best F1 with FAR <= 10 % on the choosing group):", head]
    groups = [g for g, _, _ in report.held_out]
    for group, setting, res in report.held_out:
        rest = "+".join(g for g in groups if g != group)
        lines.append(_line(f"{group} -> {rest} ({setting.label()})", res))
    n = r.counts.tp + r.counts.fp + r.counts.tn + r.counts.fn
    lines += ["", f"{n} test rows in {len(report.files)} files; predictions in {predictions}; {seconds:.1f} s"]
    for line in lines:
        print(line)  # plain print: a table must not wrap or truncate when piped to a file


def _line(label: str, res) -> str:
    c, n = res.counts, res.nab
    return (
        f"{label:{LABEL}} {c.f1:6.3f} {c.far:7.2f} {c.mar:7.2f} {n['standard']:8.2f} {n['low_fp']:7.2f} "
        f"{n['low_fn']:7.2f}"
    )
