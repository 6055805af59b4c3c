"""Whether a machine is running, row by row, from its own tags: a stopped machine (a weekend, a
night shift off) is not abnormal, and a cold restart's warm-up is not a fault. Rows while stopped,
and the first ``startup_min`` after each start, are neither learned from nor scored.

The rule is the asset's ``running_tag`` reading above ``running_above`` (its class's or its own
detection settings). Without a ``running_tag`` (and unless ``running_auto`` is off), training looks
for a tag with a clear stopped mode (``pdm.models.stopped``); the rule it finds, or why none, is
stored with the model (``metrics["running"]``) and scoring uses it. Otherwise every row counts as
running.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from pdm.config import DetectionConfig
from pdm.models.stopped import find_off_mode, warmup_min
from pdm.storage.tables import ModelVersion


def running_rows(frame: pd.DataFrame, detection: DetectionConfig, floor: pd.DataFrame | None = None) -> np.ndarray:
    """Per row of ``frame`` (time-indexed, one column per tag), True where it may be learned from
    and scored.

    ``floor``: each tag's lowest raw reading in the row's smoothing window
    (``pdm.models.training.asset_frames``). With it, a row is running only when every raw reading it
    averages is; without it, the smoothed running tag decides, and the first rows after a stop,
    still above the limit on average, are scored as running though the machine has stopped."""
    tag = detection.running_tag
    if tag is None or frame.empty:
        return np.ones(len(frame), dtype=bool)
    if tag not in frame.columns:
        raise ValueError(
            f"detection.running_tag {tag!r} is not a tag of this asset (tags: {', '.join(map(str, frame.columns))})"
        )
    source = floor if floor is not None and tag in floor.columns and len(floor) == len(frame) else frame
    running = source[tag].to_numpy(dtype=float) > detection.running_above
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


def auto_rule(
    frame: pd.DataFrame, detection: DetectionConfig, earlier: dict | None = None
) -> tuple[DetectionConfig, dict | None]:
    """``detection`` with the stopped mode found in ``frame`` (training data) as its rule, and the
    record stored with the model; unchanged, and no record, when the plant file names a rule or
    turns the search off.

    ``earlier``: the rule an earlier model of the asset found. When these rows show no stop (a
    model re-learnt from the hours after a repair, say), that rule is kept: a repair does not
    change how the machine looks when it is off, and without the rule every later stop and
    restart would read as abnormal."""
    if detection.running_tag is not None or not detection.running_auto or frame.empty:
        return detection, None
    mode, reason = find_off_mode(frame)
    if mode is None:
        if earlier and earlier.get("tag") in frame.columns:
            kept = {**earlier, "reason": f"kept from an earlier model ({reason}): {earlier.get('reason', '')}"}
            update = {
                "running_tag": earlier["tag"],
                "running_above": float(earlier["above"]),
                "startup_min": max(detection.startup_min, float(earlier.get("startup_min", 0.0))),
            }
            return detection.model_copy(update=update), kept
        return detection, {"tag": None, "above": None, "reason": reason}
    # A rule found, not written: the plant file says nothing of a warm-up either, so it is measured;
    # rows too few to measure it (a day after a repair) keep the warm-up an earlier model measured
    # on the same tag, or every restart would be scored cold.
    warmup, why = warmup_min(frame, mode)
    if "no warm-up measured" in why and earlier and earlier.get("tag") == mode.tag and earlier.get("startup_min"):
        warmup = float(earlier["startup_min"])
        why = f"{why}; warm-up {warmup:.0f} min kept from an earlier model"
    startup = max(detection.startup_min, warmup)
    found = {"tag": mode.tag, "above": mode.above, "startup_min": startup, "reason": f"{reason}; {why}"}
    update = {"running_tag": mode.tag, "running_above": mode.above, "startup_min": startup}
    return detection.model_copy(update=update), found


def running_part(
    frame: pd.DataFrame,
    normal: np.ndarray,
    detection: DetectionConfig,
    earlier: dict | None = None,
    floor: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``normal`` rows of ``frame`` that are running, for training. Without a rule in the plant
    file, the rule found in those rows (else ``earlier``'s, see ``auto_rule``) is applied and its
    record kept in ``attrs["running"]``, which ``pdm.models.training.store_version`` stores with the
    model trained on them."""
    detection, found = auto_rule(frame.loc[normal], detection, earlier)
    part = frame.loc[normal & running_rows(frame, detection, floor)]
    if found is not None:
        part.attrs["running"] = found
    return part


def earlier_rule(session: Session, *, company_id: int, asset_id: int) -> dict | None:
    """The running rule the asset's latest model that found one stored (``metrics["running"]``)."""
    versions = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.company_id == company_id, ModelVersion.asset_id == asset_id)
        .order_by(ModelVersion.version.desc())
    )
    for version in versions:
        found = (version.metrics or {}).get("running") or {}
        if found.get("tag"):
            return found
    return None


def model_rule(detection: DetectionConfig, metrics: dict | None) -> DetectionConfig:
    """The rule a model's rows are scored with: the plant file's, else the one found in its training data."""
    found = (metrics or {}).get("running") or {}
    if detection.running_tag is not None or not detection.running_auto or not found.get("tag"):
        return detection
    startup = float(found.get("startup_min", detection.startup_min))  # models from before the warm-up was measured
    update = {"running_tag": found["tag"], "running_above": float(found["above"]), "startup_min": startup}
    return detection.model_copy(update=update)
