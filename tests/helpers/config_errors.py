"""What the configuration corpora ask of every refusal: one line, naming its source, field and words."""

from __future__ import annotations

from pdm.errors import ECHO_CHARS, ConfigError


def refusal_problem(exc: ConfigError, source: str, case, max_chars: int) -> str | None:
    """None when ``exc`` is the refusal ``case`` expects (its ``field``, ``fragment`` and ``secret``, each
    None to skip), else what is wrong with it."""
    message = str(exc)
    if "\n" in message or "\r" in message:
        return f"not one line: {message!r}"
    if not message.startswith(f"{source}: "):
        return f"does not name {source}: {message}"
    if case.field is not None and exc.field != case.field:
        return f"names {exc.field!r}, expected {case.field!r}: {message}"
    if case.fragment is not None and case.fragment not in message:
        return f"lacks {case.fragment!r}: {message}"
    if case.secret is not None and case.secret in message:
        return f"echoes the secret: {message}"
    if len(repr(exc.value)) > ECHO_CHARS or len(message) > max_chars:
        return f"too long ({len(message)} chars): {message[:200]}"
    return None
