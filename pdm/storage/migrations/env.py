"""Alembic environment: one migration history for SQLite and PostgreSQL (batch mode)."""

from alembic import context

from pdm.storage.partitions import is_partition_name
from pdm.storage.tables import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # called from the alembic CLI
    from pdm.config import load_settings
    from pdm.storage.session import make_engine

    engine = make_engine(load_settings().database_url)

with engine.begin() as connection:
    # Readings' day partitions (PostgreSQL) are made by maintenance, not declared in the ORM.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        include_name=lambda name, kind, _parent: not (kind == "table" and is_partition_name(name)),
    )
    with context.begin_transaction():
        context.run_migrations()
