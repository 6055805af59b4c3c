"""Labelled CSVs for the replay: the format read, and one clear line for each bad file."""

from __future__ import annotations

import pytest

from pdm.bench.series import load_series, tag_slugs
from pdm.errors import ConfigError

GOOD = "datetime;Temp probe;anomaly\n2024-01-01T00:00:00;1.5;0\n2024-01-01T00:00:10;;1\n2024-01-01T00:00:20;2.5;1\n"


def _write(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_times_tags_gaps_and_label_windows(tmp_path):
    s = load_series(_write(tmp_path, GOOD))
    assert list(s.frame.columns) == ["Temp probe"]
    assert s.frame.index[1] - s.frame.index[0] == 10.0 and s.frame.index[0] == 1704067200.0
    assert s.frame["Temp probe"].isna().tolist() == [False, True, False]  # an empty cell is a missing reading
    assert s.windows == [(1704067210.0, 1704067220.0)]


def test_epoch_seconds_and_a_windows_file(tmp_path):
    data = _write(tmp_path, "ts,a,b\n100,1,2\n110,1,2\n120,1,3\n130,1,2\n")
    windows = _write(tmp_path, "start,end\n110,120\n", "w.csv")
    s = load_series(data, windows=windows)
    assert list(s.frame.columns) == ["a", "b"] and s.windows == [(110.0, 120.0)]


@pytest.mark.parametrize(
    ("text", "options", "where", "reason"),
    [
        ("when,a\n1,2\n", {"timestamp": "datetime"}, "--timestamp = 'datetime'", "no such column"),
        ("ts,a\n10,1\n5,1\n", {}, "line 3, column 'ts' = '5'", "earlier than the line before"),
        ("ts,a\n10,1\n10,1\n", {}, "line 3, column 'ts' = '10'", "the same time as the line before"),
        ("ts,a\n10,1\n20,oops\n", {}, "line 3, column 'a' = 'oops'", "not a number"),
        ("ts,a\n10,1\nyesterday,1\n", {}, "line 3, column 'ts' = 'yesterday'", "not epoch seconds"),
        ("ts,a\n2024-01-01,1\nyesterday,1\n", {}, "line 3, column 'ts' = 'yesterday'", "not a date-time"),
        ("ts,a,anomaly\n10,1,0\n20,1,2\n", {}, "line 3, column 'anomaly' = '2'", "a label must be 0 or 1"),
        ("ts,anomaly\n10,0\n20,1\n", {}, "columns", "no tag column"),
        ("ts,a\n10,1\n20,inf\n", {}, "line 3, column 'a'", "not a finite number"),
        ("", {}, "line 1", "empty file"),
    ],
)
def test_a_bad_file_is_one_line_naming_file_line_and_column(tmp_path, text, options, where, reason):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_series(path, **options)
    message = str(err.value)
    assert message.startswith(str(path)) and where in message and reason in message and "\n" not in message


def test_windows_outside_the_data_are_refused(tmp_path):
    data = _write(tmp_path, "ts,a\n100,1\n110,1\n")
    windows = _write(tmp_path, "start,end\n500,600\n", "w.csv")
    with pytest.raises(ConfigError, match=r"w\.csv: line 2 = '500 \.\. 600': window outside the data"):
        load_series(data, windows=windows)


def test_not_utf8_and_a_missing_file(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("ts,température\n1,2\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_series(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_series(tmp_path / "nothing.csv")


def test_tag_names_become_unique_slugs():
    assert tag_slugs(["Volume Flow RateRMS", "Volume Flow Rate RMS", "_x"]) == {
        "Volume Flow RateRMS": "Volume_Flow_RateRMS",
        "Volume Flow Rate RMS": "Volume_Flow_Rate_RMS",
        "_x": "x",
    }
