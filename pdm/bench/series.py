"""A labelled time series read from CSV, for replaying through the service.

The format (``pdmctl bench replay --help`` says the same):

- a header line; the delimiter is ``,``, ``;`` or a tab (detected from the header);
- a timestamp column (``--timestamp``; default the first column named ``timestamp``,
  ``datetime``, ``time`` or ``ts``, else the first column): ISO 8601 date-times (UTC unless
  they carry an offset) or epoch seconds; strictly increasing;
- one numeric column per tag (an empty cell is a missing reading);
- labels either as a 0/1 column (``--label``; default a column named ``anomaly`` or ``label``):
  each run of 1 is one fault window; or as a separate CSV of windows with ``start`` and
  ``end`` columns in the same time format (``--windows``).

Columns listed in ``--ignore`` are dropped. Any error names the file, the line (the header is
line 1) and the column.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pdm.errors import ConfigError

TIME_NAMES = ("timestamp", "datetime", "time", "ts")
LABEL_NAMES = ("anomaly", "label")
SHOWN = 40  # characters of a bad cell echoed in an error


@dataclass
class Series:
    """Tags indexed by epoch seconds, and the labelled fault windows (start, end) in seconds."""

    name: str
    frame: pd.DataFrame
    windows: list[tuple[float, float]]


def load_series(
    path: str | Path,
    *,
    timestamp: str | None = None,
    label: str | None = None,
    windows: str | Path | None = None,
    ignore: tuple[str, ...] = (),
) -> Series:
    path = Path(path)
    raw = _read(path)
    columns = list(raw.columns)
    ts_col = timestamp or next((c for c in columns if c.strip().lower() in TIME_NAMES), columns[0])
    if ts_col not in columns:
        raise ConfigError(str(path), "--timestamp", ts_col, f"no such column; columns: {', '.join(columns)}")
    label_col = label if label is not None else next((c for c in columns if c.strip().lower() in LABEL_NAMES), None)
    if label_col is not None and label_col not in columns:
        raise ConfigError(str(path), "--label", label_col, f"no such column; columns: {', '.join(columns)}")
    if label_col is not None and windows is not None:
        raise ConfigError(str(path), "--windows", str(windows), f"labels come from column {label_col!r} already")
    unknown = [c for c in ignore if c not in columns]
    if unknown:
        raise ConfigError(str(path), "--ignore", unknown[0], f"no such column; columns: {', '.join(columns)}")
    times = _times(raw[ts_col], str(path), ts_col)
    _check_increasing(times, raw[ts_col], str(path), ts_col)
    tags = [c for c in columns if c not in {ts_col, label_col, *ignore}]
    if not tags:
        raise ConfigError(str(path), "columns", columns, "no tag column besides the timestamp and labels")
    frame = pd.DataFrame({c: _numbers(raw[c], str(path), c) for c in tags}, index=pd.Index(times, name="ts"))
    if label_col is not None:
        spans = _label_windows(raw[label_col], times, str(path), label_col)
    elif windows is not None:
        spans = _window_file(Path(windows), times)
    else:
        spans = []
    return Series(path.name, frame, spans)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(str(path), "file", str(path), "no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            header = fh.readline()
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "line 1", "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not header.strip():
        raise ConfigError(str(path), "line 1", "", "empty file: expected a header line")
    sep = max((",", ";", "\t"), key=header.count)
    try:
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(str(path), "file", str(path), f"not a {sep!r}-separated CSV: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _line(i: int) -> str:
    return f"line {i + 2}"  # data row 0 is line 2, under the header


def _cell(value: object) -> str:
    text = str(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _times(cells: pd.Series, source: str, column: str) -> np.ndarray:
    text = cells.str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if len(numeric) and not pd.isna(numeric.iloc[0]):  # the first cell says which: epoch seconds
        bad = np.flatnonzero(numeric.isna().to_numpy())
        if len(bad):
            i = int(bad[0])
            raise ConfigError(
                source,
                f"{_line(i)}, column {column!r}",
                _cell(cells.iloc[i]),
                "not epoch seconds like the lines before",
            )
        return numeric.to_numpy(dtype=float)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise ConfigError(
            source,
            f"{_line(i)}, column {column!r}",
            _cell(cells.iloc[i]),
            "not a date-time (ISO 8601) or epoch seconds",
        )
    return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float)


def _check_increasing(times: np.ndarray, cells: pd.Series, source: str, column: str) -> None:
    step = np.diff(times)
    if (step > 0).all():
        return
    i = int(np.flatnonzero(step <= 0)[0]) + 1
    what = "the same time as the line before" if step[i - 1] == 0 else "earlier than the line before"
    raise ConfigError(source, f"{_line(i)}, column {column!r}", _cell(cells.iloc[i]), f"{what}: times must increase")


def _numbers(cells: pd.Series, source: str, column: str) -> np.ndarray:
    text = cells.str.strip()
    values = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = np.flatnonzero((values.isna() & (text != "")).to_numpy())
    if len(bad):
        i = int(bad[0])
        raise ConfigError(source, f"{_line(i)}, column {column!r}", _cell(cells.iloc[i]), "not a number")
    out = values.to_numpy(dtype=float)
    inf = np.flatnonzero(np.isinf(out))
    if len(inf):
        i = int(inf[0])
        raise ConfigError(source, f"{_line(i)}, column {column!r}", cells.iloc[i], "not a finite number")
    return out


def _label_windows(cells: pd.Series, times: np.ndarray, source: str, column: str) -> list[tuple[float, float]]:
    text = cells.str.strip().str.replace(r"\.0+$", "", regex=True)
    bad = np.flatnonzero(~text.isin(["0", "1"]).to_numpy())
    if len(bad):
        i = int(bad[0])
        raise ConfigError(source, f"{_line(i)}, column {column!r}", _cell(cells.iloc[i]), "a label must be 0 or 1")
    on = (text == "1").to_numpy().astype(int)
    edges = np.diff(np.concatenate(([0], on, [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(float(times[s]), float(times[e])) for s, e in zip(starts, ends)]


def _window_file(path: Path, times: np.ndarray) -> list[tuple[float, float]]:
    raw = _read(path)
    for need in ("start", "end"):
        if need not in raw.columns:
            raise ConfigError(str(path), "columns", list(raw.columns), "a windows file needs 'start' and 'end'")
    starts, ends = _times(raw["start"], str(path), "start"), _times(raw["end"], str(path), "end")
    spans = []
    for i, (s, e) in enumerate(zip(starts, ends)):
        if e < s:
            raise ConfigError(str(path), f"{_line(i)}, column 'end'", raw["end"].iloc[i], "earlier than its start")
        if e < times[0] or s > times[-1]:
            raise ConfigError(
                str(path),
                f"{_line(i)}",
                f"{raw['start'].iloc[i]} .. {raw['end'].iloc[i]}",
                "window outside the data's time range",
            )
        spans.append((float(s), float(e)))
    return sorted(spans)


def tag_slugs(columns: list[str]) -> dict[str, str]:
    """CSV column -> a tag name the plant file accepts (letters, digits, ``_.-``), kept unique."""
    out: dict[str, str] = {}
    for c in columns:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", c.strip()).strip("_.-")[:60] or "tag"
        slug = slug if slug[0].isalnum() else "t" + slug
        base, n = slug, 2
        while slug in out.values():
            slug, n = f"{base}_{n}", n + 1
        out[c] = slug
    return out
