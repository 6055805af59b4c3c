"""Whether a machine is running, row by row, from its own tags: a stopped machine (a weekend, a
night shift off) is not abnormal, and a cold restart's warm-up is not a fault. Rows while stopped,
and the first ``startup_min`` after each start, are neither learned from nor scored.

The rule is the asset's ``running_tag`` reading above ``running_above`` (its class's or its own
detection settings); without a ``running_tag`` every row counts as running.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pdm.config import DetectionConfig


def running_rows(frame: pd.DataFrame, detection: DetectionConfig) -> np.ndarray:
    """Per row of ``frame`` (time-indexed, one column per tag), True where it may be learned from
    and scored."""
    tag = detection.running_tag
    if tag is None or frame.empty:
        return np.ones(len(frame), dtype=bool)
    if tag not in frame.columns:
        raise ValueError(
            f"detection.running_tag {tag!r} is not a tag of this asset (tags: {', '.join(map(str, frame.columns))})"
        )
    running = frame[tag].to_numpy(dtype=float) > detection.running_above
    if detection.startup_min <= 0:
        return running
    ts = frame.index.to_numpy(dtype=float)
    # The time of the latest stopped row at or before each row; rows before any stop have none.
    last_stop = pd.Series(np.where(running, np.nan, ts)).ffill().to_numpy()
    warming = ~np.isnan(last_stop) & (ts - last_stop <= detection.startup_min * 60.0)
    return running & ~warming


def lookback_s(detection: DetectionConfig) -> float:
    """How far before the first row to score the frame must reach to know a recent restart."""
    return detection.startup_min * 60.0 if detection.running_tag is not None else 0.0
