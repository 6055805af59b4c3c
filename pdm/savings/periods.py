"""Reporting periods: the text a user types ('2026Q4', '2026-11', '2026') as UTC epoch bounds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pdm.errors import InvalidInput


def parse_period(text: str | None, field_name: str = "period") -> tuple[float | None, float | None, str]:
    """'2026Q4', '2026-11', '2026' or None/'all' → (start, end) epoch seconds in UTC, end excluded."""
    if text is None or text.strip().lower() in ("", "all"):
        return None, None, "all time"
    m = re.fullmatch(r"(\d{4})(?:Q([1-4])|-(0[1-9]|1[0-2]))?", text.strip())
    if not m:
        raise InvalidInput(field_name, text, "expected YYYY, YYYYQ1..YYYYQ4 or YYYY-MM")
    year = int(m[1])
    first, months = (1, 12) if not (m[2] or m[3]) else ((int(m[2]) - 1) * 3 + 1, 3) if m[2] else (int(m[3]), 1)
    start = datetime(year, first, 1, tzinfo=UTC)
    end_month = first + months
    end = datetime(year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), end.timestamp(), text.strip()
