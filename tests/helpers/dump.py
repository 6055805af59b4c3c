"""Every row of the database as text, to search it for what must never be stored (a secret, a key)."""

from __future__ import annotations


def dump_tables(session) -> str:
    """Every row of every table as text: works the same on SQLite and PostgreSQL."""
    from sqlalchemy import text

    from pdm.storage.tables import Base

    # str() of each value: a Row's repr shortens long values, which would hide what we look for.
    return "\n".join(
        "\t".join(map(str, row))
        for table in Base.metadata.sorted_tables
        for row in session.execute(text(f'SELECT * FROM "{table.name}"'))
    )
