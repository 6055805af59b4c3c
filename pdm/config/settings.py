"""The service's settings (TOML file, then ``PDM_*`` environment variables), as strict as the plant file.

- **The file** is read like a plant file (``yaml_loader.read_text``: UTF-8 or a byte-order mark, at
  most 5 MB); a TOML syntax error names its line. Unknown keys are refused, naming the key.
- **Types are TOML's**: a number is a number (``true`` or ``"30"`` for seconds is refused), finite and
  bounded. Environment variables are text by nature, so there a number is parsed strictly: ``30``
  and ``0.5`` are numbers, ``30s``, ``true``, ``inf`` or `` 30`` are not.
- **A ``PDM_`` variable that is no setting** but close to one's name (``PDM_LEASE_TTL``,
  ``PDM_RETENTION_RAW_DAYS``, ``pdm_var_dir``) is refused with the name it was meant to be; other
  ``PDM_`` variables (those of other programs, e.g. the PDM package manager's ``PDM_HOME``) are ignored.
- **URLs**: ``database_url`` parses with SQLAlchemy's ``make_url`` and names SQLite or PostgreSQL;
  an error never echoes its password (see ``base.shown``).
- An error names where the bad value came from: the file, or ``$PDM_…`` with the text as it was set.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from pdm.config.base import PositiveSeconds, Real, Whole, _Strict, shown, validate_model
from pdm.config.yaml_loader import MAX_DIGITS, read_text
from pdm.errors import ConfigError

ENV_PREFIX = "PDM_"
# The service's other variables (read by pdm.access.crypto and pdm.access.users, not settings): never
# refused, and offered when a variable is a near miss of one (tests/config/test_settings_corpus.py
# keeps this list equal to those modules' names).
OTHER_ENV = ("PDM_FERNET_KEY", "PDM_SECRET_KEY")
_DATABASES = ("sqlite", "postgresql", "postgres")
_DATABASE_EXAMPLE = "sqlite:///var/pdm.sqlite3 or postgresql://user@host:5432/db"


def _database_url(url: str) -> str:
    """A URL SQLAlchemy parses, of SQLite or PostgreSQL, with a port from 1 to 65535; a reason never
    quotes the URL (it may hold a password)."""
    from sqlalchemy.engine import make_url  # here: settings are read by commands that never open the database
    from sqlalchemy.exc import ArgumentError

    if url != url.strip():
        raise ValueError("spaces or line breaks around the URL")
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(f"not a database URL (expected {_DATABASE_EXAMPLE})") from None
    backend = parsed.get_backend_name()
    if backend not in _DATABASES:
        raise ValueError(f"not a SQLite or PostgreSQL URL (expected {_DATABASE_EXAMPLE})")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("the port must be from 1 to 65535")
    if backend == "sqlite" and parsed.host:
        raise ValueError("a SQLite URL has no host: sqlite:///relative/path or sqlite:////absolute/path")
    return url


def _a_path(value: Any) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("expected a directory, not an empty string")
        if "\x00" in value or "\n" in value or len(value) > 4096:
            raise ValueError("expected the path of a directory")
    elif not isinstance(value, os.PathLike):
        raise ValueError("expected the path of a directory, as a string")
    return value


DirPath = Annotated[Path, BeforeValidator(_a_path)]


class RetentionConfig(_Strict):
    """How long readings are kept: raw for ``raw_days``, then 1-minute aggregates for ``aggregate_days``.

    Training reads raw readings only, so a detector's training window can never reach further back
    than ``raw_days``: keep ``raw_days`` above the span training needs (``detection.train_min_span_min``).
    """

    raw_days: Annotated[Real, Field(ge=1, le=3650)] = 30.0
    aggregate_days: Annotated[Real, Field(ge=1, le=36500, validate_default=True)] = 730.0
    # Rows aggregated and deleted per transaction: small enough that ingest never waits long on it.
    batch_rows: Annotated[Whole, Field(ge=100, le=1_000_000)] = 50_000
    # PostgreSQL: daily partitions created this many days ahead of today.
    partition_ahead_days: Annotated[Whole, Field(ge=1, le=60)] = 3
    interval_s: Annotated[Real, Field(ge=10, le=86_400)] = 3600.0

    @field_validator("aggregate_days")
    @classmethod
    def _aggregates_outlive_raw(cls, days: float, info: ValidationInfo) -> float:
        raw = info.data.get("raw_days")
        if raw is not None and days < raw:
            raise ValueError(f"must not be shorter than raw_days ({raw:g})")
        return days


class Settings(_Strict):
    """Service settings: where the database and the working files live."""

    database_url: Annotated[str, Strict(), Field(min_length=1, max_length=4096), AfterValidator(_database_url)] = (
        "sqlite:///var/pdm.sqlite3"
    )
    var_dir: DirPath = Path("var")
    # Per endpoint: at least 1 kB, at most 1 TB.
    spool_max_bytes: Annotated[Whole, Field(ge=1024, le=2**40)] = 256 * 1024 * 1024
    streamlit_port: Annotated[Whole, Field(ge=1, le=65535)] = 8501
    retention: RetentionConfig = RetentionConfig()
    # Several workers: an endpoint lease (and a worker's registration) not renewed for lease_ttl_s is
    # taken over; workers renew every lease_renew_s; a standby scheduler retries the lock every leader_retry_s.
    # A TTL of at least 1 s (shorter, any pause loses the lease); renewals and retries at least 10 ms,
    # like every interval of the plant file (shorter is a busy loop of the database).
    lease_ttl_s: Annotated[Real, Field(ge=1, le=3600)] = 15.0
    lease_renew_s: Annotated[PositiveSeconds, Field(le=600)] = 5.0
    leader_retry_s: Annotated[PositiveSeconds, Field(le=600)] = 5.0

    @field_validator("lease_renew_s")
    @classmethod
    def _renew_within_ttl(cls, value: float, info: ValidationInfo) -> float:
        ttl = info.data.get("lease_ttl_s")
        if ttl is not None and value >= ttl:
            raise ValueError(f"must be shorter than lease_ttl_s ({ttl:g}), or leases expire between renewals")
        return value


_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _env_value(kind: Any, text: str) -> Any:
    """``text`` as the field's type, parsed strictly (a ``ValueError`` says why not); text fields as is."""
    if kind is int or kind is float:
        if len(text) > MAX_DIGITS:
            raise ValueError(f"a number of more than {MAX_DIGITS} characters")
        if kind is int and _INT.fullmatch(text):
            return int(text)
        if kind is float and _FLOAT.fullmatch(text):
            return float(text)
        example = "a whole number such as 8501" if kind is int else "a number such as 15 or 0.5"
        raise ValueError(f"expected {example}")
    if kind is bool:  # no setting is one yet; written here so one added later is not lax
        if text in ("true", "false"):
            return text == "true"
        raise ValueError("expected true or false")
    return text


def _env_names(model: type[BaseModel] = Settings) -> dict[str, tuple[tuple[str, ...], Any]]:
    """Each setting's variable → (its field path, its type); a section's keys as PDM_<SECTION>__<KEY>."""
    out: dict[str, tuple[tuple[str, ...], Any]] = {}
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            for sub, subfield in kind.model_fields.items():
                out[f"{ENV_PREFIX}{name.upper()}__{sub.upper()}"] = ((name, sub), subfield.annotation)
        else:
            out[f"{ENV_PREFIX}{name.upper()}"] = ((name,), kind)
    return out


def _near_miss(key: str, names: dict[str, Any]) -> str | None:
    """The setting (or other service variable) ``key`` was likely meant to be, or None."""
    upper = key.upper()
    known = [*names, *OTHER_ENV]
    if upper in known:
        return upper  # pdm_var_dir: the environment is case-sensitive
    stem = upper.removeprefix(ENV_PREFIX)
    sections = {path[0].upper() for path, _ in names.values() if len(path) > 1}
    if stem in sections:
        return next(name for name in names if name.startswith(f"{upper}__"))  # PDM_RETENTION: a section
    for name in known:
        other = name.removeprefix(ENV_PREFIX)
        if other.startswith(stem + "_") or stem.startswith(other):
            return name  # PDM_SPOOL_MAX, PDM_LEASE_TTL_SECONDS
    close = difflib.get_close_matches(stem, [n.removeprefix(ENV_PREFIX) for n in known], n=1, cutoff=0.8)
    if close:
        return ENV_PREFIX + close[0]
    if any(stem.startswith(section + "_") for section in sections):
        return ""  # PDM_RETENTION__COLOUR: in a section's namespace, but no key of it
    return None


def _unknown_env(env: Mapping[str, str], names: dict[str, Any]) -> None:
    for key in sorted(env):
        if not key.upper().startswith(ENV_PREFIX) or key in names or key in OTHER_ENV:
            continue
        meant = _near_miss(key, names)
        if meant is None:
            continue
        loc = tuple(key.upper().removeprefix(ENV_PREFIX).lower().split("__"))
        if meant.startswith(f"{key.upper()}__"):
            hint = f" ({loc[0]} is a section: set its keys as ${meant} etc.)"
        else:
            hint = f" (did you mean ${meant}?)" if meant else ""
        value = "(hidden)" if meant in OTHER_ENV else shown(loc, env[key], unknown=True)  # a key's near miss
        raise ConfigError(f"${key}", ".".join(loc), value, f"unknown setting{hint}")


def _check_overridden(data: dict[str, Any], loc: tuple[str, ...], source: str) -> None:
    """A value of the file that a variable replaces must still be a valid value of its field (its type
    and bounds; rules across fields apply to what is merged): a variable does not hide a wrong file."""
    section = data.get(loc[0]) if len(loc) > 1 else data
    if not isinstance(section, dict) or loc[-1] not in section:
        return
    model: Any = Settings if len(loc) == 1 else Settings.model_fields[loc[0]].annotation
    field = model.model_fields[loc[-1]]
    try:
        kind: Any = Annotated[(field.annotation, *field.metadata)]  # the field's type with its bounds
        TypeAdapter(kind).validate_python(section[loc[-1]])
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(source, ".".join(loc), shown(loc, section[loc[-1]]), reason) from None


def _read_toml(path: Path) -> dict[str, Any]:
    source = str(path)
    text = read_text(path, kind="settings file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)$", message)
        if m is None:  # "(at end of document)": the last line that holds anything
            line, reason = len(text.rstrip().splitlines()) or 1, message.replace("(at end of document)", "at the end")
        else:
            line, reason = int(m[1]), f"{message[: m.start()].strip()} (column {m[2]})"
        if reason.startswith(("Cannot overwrite a value", "Cannot declare")):
            reason = f"a key or table given twice: {reason}"
        raise ConfigError(source, f"line {line}", None, f"invalid TOML: {reason}") from None
    except (RecursionError, MemoryError, ValueError) as exc:  # a gap in tomllib's errors must not be a traceback
        raise ConfigError(source, "(toml)", None, f"invalid TOML: {type(exc).__name__}") from None


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Settings from an optional TOML file, then ``PDM_*`` environment variables (which win)."""
    variables: Mapping[str, str] = os.environ if env is None else env
    data: dict[str, Any] = _read_toml(Path(path)) if path is not None else {}
    source = str(path) if path is not None else "<settings>"
    names = _env_names()
    _unknown_env(variables, names)
    # Where each value set by a variable came from, and its text, for the error that names it.
    from_env: dict[tuple[str, ...], tuple[str, str]] = {}
    for key, (loc, kind) in names.items():
        if key not in variables:
            continue
        text = variables[key]
        try:
            value = _env_value(kind, text)
        except ValueError as exc:
            raise ConfigError(f"${key}", ".".join(loc), shown(loc, text), str(exc)) from None
        _check_overridden(data, loc, source)
        if len(loc) == 1:
            data[loc[0]] = value
        elif isinstance(data.setdefault(loc[0], {}), dict):  # else the file's section is not a table: its error
            data[loc[0]] = {**data[loc[0]], loc[1]: value}
        from_env[loc] = (key, text)
    try:
        return validate_model(Settings, data, source)
    except ConfigError as exc:
        loc = tuple(exc.field.split("."))
        if loc not in from_env:
            raise
        key, text = from_env[loc]
        raise ConfigError(f"${key}", exc.field, shown(loc, text), exc.reason) from None
