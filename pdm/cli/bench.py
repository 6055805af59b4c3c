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
    detector: Annotated[str, typer.Option(help="Registered detector name.")] = "",
    files: Annotated[str | None, typer.Option(help="Only these files, comma-separated (e.g. valve1/0.csv).")] = None,
) -> None:
    """Run the SKAB outlier-detection protocol: fit on each file's first 400 rows, score the rest."""
    from pdm.bench import skab as bench
    from pdm.errors import ConfigError
    from pdm.models import DETECTORS

    name = detector or bench.DEFAULT_DETECTOR
    if name not in DETECTORS:
        raise ConfigError("--detector", "detector", name, f"unknown; known: {', '.join(sorted(DETECTORS))}")
    bench.data_root(data)  # one-line error for a bad path before any work
    fixed = bench.DEFAULT_SETTINGS.get(name, bench.FALLBACK_SETTING)
    started = time.perf_counter()
    report = bench.run(data, name, fixed, only=files.split(",") if files else None)
    bench.write_predictions(predictions, report.files, report.result.predictions)
    _print(report, time.perf_counter() - started, predictions)


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
