"""What every configuration model shares: strict models, common field types, and the one place a
validation failure becomes a ``ConfigError`` naming the file, the field path and the bad value."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pdm.errors import ConfigError

# Fields whose value is never repeated in an error message.
SECRET_FIELDS = ("password_encrypted", "password")

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
PositiveSeconds = Annotated[float, Field(gt=0, le=86_400)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
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
        reason = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        if loc and loc[-1] in SECRET_FIELDS and value is not None:
            value = "(hidden)"  # a password pasted into the wrong field must not be echoed back
        raise ConfigError(source, _field_path(loc), value, reason) from None
