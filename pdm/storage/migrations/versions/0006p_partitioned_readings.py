"""readings_1m (1-minute aggregates); on PostgreSQL, readings partitioned by day on ts

Revision ID: 0006p
Revises: 0005

PostgreSQL: the plain readings table becomes a RANGE-partitioned one. The existing table is
not copied: it is attached as the DEFAULT partition (renamed readings_default), so the upgrade
takes as long as a few scans of it rather than a rewrite of every row, and needs no second copy
on disk. Partitions for yesterday to three days ahead are made at once (their rows moved out of
DEFAULT); older days are split out of DEFAULT by the maintenance job (31 days per run, each in
its own transaction), and days past the raw horizon are aggregated from it by retention.
Downgrade copies the rows back into one plain table. The SQL is written out here rather than
imported so that this revision keeps meaning what it meant when written. SQLite keeps its
table as it is.
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0006p'
down_revision = '0005'
branch_labels = None
depends_on = None

DAY_S = 86_400
COLUMNS = "tag_id, ts, value, quality, received_at"


def _columns(pk: str) -> str:
    return (f"tag_id integer NOT NULL, ts double precision NOT NULL, value double precision, "
            f"quality bigint NOT NULL, received_at double precision NOT NULL, "
            f"CONSTRAINT {pk} PRIMARY KEY (tag_id, ts), "
            f"CONSTRAINT fk_readings_tag_id_tags FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE")


def _partition(bind, day: int) -> None:
    """The day's partition, its rows first moved out of DEFAULT (which PostgreSQL requires)."""
    name = "readings_p" + datetime.fromtimestamp(day, timezone.utc).strftime("%Y%m%d")
    bounds = f"FOR VALUES FROM ({float(day)!r}) TO ({float(day + DAY_S)!r})"
    where = f"ts >= {float(day)!r} AND ts < {float(day + DAY_S)!r}"
    if not bind.execute(sa.text(f"SELECT EXISTS (SELECT 1 FROM readings_default WHERE {where})")).scalar():
        bind.execute(sa.text(f"CREATE TABLE {name} PARTITION OF readings {bounds}"))
        return
    bind.execute(sa.text(f"CREATE TABLE {name} (LIKE readings INCLUDING DEFAULTS)"))
    bind.execute(sa.text(f"WITH moved AS (DELETE FROM readings_default WHERE {where} RETURNING *) "
                         f"INSERT INTO {name} SELECT * FROM moved"))
    bind.execute(sa.text(f"ALTER TABLE readings ATTACH PARTITION {name} {bounds}"))


def _to_partitioned(bind) -> None:
    bind.execute(sa.text("ALTER TABLE readings RENAME TO readings_default"))
    bind.execute(sa.text("ALTER INDEX pk_readings RENAME TO pk_readings_default"))
    bind.execute(sa.text(f"CREATE TABLE readings ({_columns('pk_readings')}) PARTITION BY RANGE (ts)"))
    # No other partition exists yet, so attaching the default one scans nothing.
    bind.execute(sa.text("ALTER TABLE readings ATTACH PARTITION readings_default DEFAULT"))
    today = int(datetime.now(timezone.utc).timestamp()) // DAY_S * DAY_S
    for k in range(-1, 4):
        _partition(bind, today + k * DAY_S)


def _to_plain(bind) -> None:
    bind.execute(sa.text(f"CREATE TABLE readings_plain ({_columns('pk_readings_plain')})"))
    bind.execute(sa.text(f"INSERT INTO readings_plain ({COLUMNS}) SELECT {COLUMNS} FROM readings"))
    bind.execute(sa.text("DROP TABLE readings"))  # its partitions go with it
    bind.execute(sa.text("ALTER TABLE readings_plain RENAME TO readings"))
    bind.execute(sa.text("ALTER INDEX pk_readings_plain RENAME TO pk_readings"))


def upgrade() -> None:
    op.create_table('readings_1m',
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('minute', sa.Float(), nullable=False),
    sa.Column('min', sa.Float(), nullable=True),
    sa.Column('mean', sa.Float(), nullable=True),
    sa.Column('max', sa.Float(), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('bad_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_readings_1m_tag_id_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tag_id', 'minute', name=op.f('pk_readings_1m')),
    sqlite_with_rowid=False
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _to_partitioned(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _to_plain(bind)
    op.drop_table('readings_1m')
