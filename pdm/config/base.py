"""What every configuration model shares: strict models, common field types, and the one place a
validation failure becomes a ``ConfigError`` naming the file, the field path and the bad value."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from pdm.errors import ConfigError

# Fields whose value is never repeated in an error message: secrets, and the fields that say where
# a secret is (an environment variable's name, a key file's path), where a secret is often pasted
# by mistake. A field whose name contains one of these words is hidden too (an unknown ``passwd:``).
SECRET_FIELDS = ("password_encrypted", "password", "password_env", "client_private_key", "user_private_key")
_SECRET_WORDS = re.compile(r"pass|pwd|secret|token|private_key|api_key|credential|authorization|bearer", re.IGNORECASE)

# Strict types for the plant file: a bool is not a number (``true`` seconds are refused, not 1 s),
# a string is not a number, an integer is not a float written 3.0, and every float is finite.
Real = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Whole = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
Text = Annotated[str, Field(max_length=200)]  # free text: names, units
PathText = Annotated[str, Field(min_length=1, max_length=4096)]

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# Every interval and timeout: at least 10 ms (a smaller one is a typo, or a busy loop), at most a day.
PositiveSeconds = Annotated[Real, Field(ge=0.01, le=86_400)]
# How far back an endpoint's history is read after an outage or a take-over: more than nothing, at
# most 30 days (a longer outage is a gap; asking a server for months of values stalls the worker).
BackfillHours = Annotated[Real, Field(gt=0, le=720)]
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


def secret_like(name: str) -> bool:
    """Whether a value given as an environment variable's name looks like the secret itself.

    Variable names are words joined by underscores (``PLC_PASSWORD``, ``smtp_pw``); a password is
    long, mixes case with digits, or is a random-looking run of characters."""
    if len(name) > 40 or not re.match(ENV_NAME, name):
        return True
    letters = [c for c in name if c.isalpha()]
    mixed = any(c.islower() for c in letters) and any(c.isupper() for c in letters)
    if mixed and any(c.isdigit() for c in name):
        return True
    counts = Counter(name)
    entropy = -sum(n / len(name) * math.log2(n / len(name)) for n in counts.values())
    return len(name) >= 16 and "_" not in name and entropy > 3.5


def is_secret_field(name: object) -> bool:
    return isinstance(name, str) and (name in SECRET_FIELDS or bool(_SECRET_WORDS.search(name)))


def redacted_url(url: str, keep_path: bool = True) -> str:
    """``url`` as an error may show it: ``scheme://host/…`` when it carries userinfo (a password)
    or when ``keep_path`` is false (a webhook's token is in its path or query); the query is always
    cut. Text that is no ``scheme://`` URL is hidden when it could hold a secret."""
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,30}", scheme):
        return url if keep_path and "@" not in url else "(hidden)"
    # With userinfo the host follows the last "@": a password may itself hold "/", "?" or "#" (a user
    # name does not, so an "@" further down a path, as in sqlite:///a@b.db, is no userinfo).
    before, _, after = rest.rpartition("@")
    userinfo = bool(before) and not re.search(r"[/?#]", before.split(":", 1)[0])
    after = after if userinfo else rest
    host = re.split(r"[/?#]", after, maxsplit=1)[0]
    tail = after[len(host) :]
    if userinfo or not keep_path:
        return f"{scheme}://{host}" + ("/…" if tail not in ("", "/") else tail)
    path, query = re.split(r"[?#]", tail, maxsplit=1)[0], re.search(r"[?#]", tail)
    return f"{scheme}://{host}{path}" + ("?…" if query else "")


_USERINFO = re.compile(r"^[^\s/@:]+:\S*@")


def _is_webhook(loc: tuple[Any, ...]) -> bool:
    return any(isinstance(part, str) and "hook" in part.lower() for part in loc)


def shown(loc: tuple[Any, ...], value: Any, unknown: bool = False) -> Any:
    """What an error at ``loc`` may echo of ``value``: nothing of a secret ("(hidden)"), and a URL
    without its password, nor its path and query when it is a webhook's or an unknown field's."""
    if value is None:
        return None
    if any(is_secret_field(part) for part in loc):
        return "(hidden)"  # a password pasted into the wrong field must not be echoed back
    last = next((part for part in reversed(loc) if isinstance(part, str)), "")
    webhook = _is_webhook(loc)
    if isinstance(value, (list, tuple, dict, set)):
        # A list or mapping holding a URL (or any in a webhook: {Authorization: Bearer …}) is not shown.
        return "(hidden)" if webhook or "://" in repr(value) or "@" in repr(value) else value
    if isinstance(value, str) and (last.lower().endswith("url") or "://" in value or (webhook and unknown)):
        return redacted_url(value, keep_path=not (unknown or webhook))
    if isinstance(value, str) and _USERINFO.match(value):
        return "(hidden)"  # user:password@host without a scheme
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, str) and part.startswith("kind="):  # a union's tag (pdm.config.kinds), not a field
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def validate_model(model: type[BaseModel], data: Any, source: str) -> Any:
    """Validate ``data`` into ``model``; the first problem becomes a ``ConfigError``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        value = err.get("input") if err["type"] != "missing" else None
        if err["type"] == "extra_forbidden":
            value = _lookup(data, loc)
        reason = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        value = shown(loc, value, unknown=err["type"] == "extra_forbidden")
        raise ConfigError(source, _field_path(loc), value, reason) from None
