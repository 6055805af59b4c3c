"""The service's settings (TOML file, then ``PDM_*`` environment variables)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator

from pdm.config.base import _Strict, validate_model
from pdm.errors import ConfigError


class RetentionConfig(_Strict):
    """How long readings are kept: raw for ``raw_days``, then 1-minute aggregates for ``aggregate_days``.

    Training reads raw readings only, so a detector's training window can never reach further back
    than ``raw_days``: keep ``raw_days`` above the span training needs (``detection.train_min_span_min``).
    """

    raw_days: Annotated[float, Field(ge=1, le=3650)] = 30
    aggregate_days: Annotated[float, Field(ge=1, le=36500, validate_default=True)] = 730
    # Rows aggregated and deleted per transaction: small enough that ingest never waits long on it.
    batch_rows: Annotated[int, Field(ge=100, le=1_000_000)] = 50_000
    # PostgreSQL: daily partitions created this many days ahead of today.
    partition_ahead_days: Annotated[int, Field(ge=1, le=60)] = 3
    interval_s: Annotated[float, Field(ge=10, le=86_400)] = 3600

    @field_validator("aggregate_days")
    @classmethod
    def _aggregates_outlive_raw(cls, days: float, info: ValidationInfo) -> float:
        raw = info.data.get("raw_days")
        if raw is not None and days < raw:
            raise ValueError(f"must not be shorter than raw_days ({raw:g})")
        return days


class Settings(_Strict):
    """Service settings: where the database and the working files live."""

    database_url: str = "sqlite:///var/pdm.sqlite3"
    var_dir: Path = Path("var")
    spool_max_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024
    streamlit_port: Annotated[int, Field(ge=1, le=65535)] = 8501
    retention: RetentionConfig = RetentionConfig()
    # Several workers: an endpoint lease (and a worker's registration) not renewed for lease_ttl_s is
    # taken over; workers renew every lease_renew_s; a standby scheduler retries the lock every leader_retry_s.
    lease_ttl_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    lease_renew_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    leader_retry_s: Annotated[float, Field(gt=0, le=600)] = 5.0

    @field_validator("lease_renew_s")
    @classmethod
    def _renew_within_ttl(cls, value: float, info: ValidationInfo) -> float:
        ttl = info.data.get("lease_ttl_s")
        if ttl is not None and value >= ttl:
            raise ValueError(f"must be shorter than lease_ttl_s ({ttl:g}), or leases expire between renewals")
        return value


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from an optional TOML file, then ``PDM_*`` environment variables."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    source = "<settings>"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(source, "(file)", source, exc.strerror or str(exc)) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, "(toml)", None, str(exc)) from None
    for name in Settings.model_fields:
        key = f"PDM_{name.upper()}"
        if key in env:
            data[name] = env[key]
            source = f"{source} + ${key}" if path else f"${key}"
    for sub in RetentionConfig.model_fields:  # a [retention] key as PDM_RETENTION__<KEY>
        key = f"PDM_RETENTION__{sub.upper()}"
        if key in env:
            section = data.get("retention")
            data["retention"] = {**(section if isinstance(section, dict) else {}), sub: env[key]}
            source = f"{source} + ${key}" if path else f"${key}"
    return validate_model(Settings, data, source)
