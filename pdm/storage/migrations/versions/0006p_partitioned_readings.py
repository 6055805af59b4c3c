"""readings_1m (1-minute aggregates); on PostgreSQL, readings partitioned by day on ts

Revision ID: 0006p
Revises: 0005

PostgreSQL: the plain readings table becomes a RANGE-partitioned one with a DEFAULT
partition, one partition per day that holds rows (the most recent MAX_DAYS of them; older
rows land in DEFAULT, where retention handles them) and today to three days ahead; every
row is copied over. Downgrade copies them back into one plain table. The SQL is written out
here rather than imported so that this revision keeps meaning what it meant when written.
SQLite keeps its table as it is.
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0006p'
down_revision = '0005'
branch_labels = None
depends_on = None

DAY_S = 86_400
MAX_DAYS = 400
COLUMNS = "tag_id, ts, value, quality, received_at"


def _columns(pk: str) -> str:
    return (f"tag_id integer NOT NULL, ts double precision NOT NULL, value double precision, "
            f"quality bigint NOT NULL, received_at double precision NOT NULL, "
            f"CONSTRAINT {pk} PRIMARY KEY (tag_id, ts), "
            f"CONSTRAINT fk_readings_tag_id_tags FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE")


def _partition(day: int) -> str:
    name = "readings_p" + datetime.fromtimestamp(day, timezone.utc).strftime("%Y%m%d")
    return f"CREATE TABLE {name} PARTITION OF readings FOR VALUES FROM ({float(day)!r}) TO ({float(day + DAY_S)!r})"


def _to_partitioned(bind) -> None:
    bind.execute(sa.text("ALTER TABLE readings RENAME TO readings_unpartitioned"))
    bind.execute(sa.text("ALTER INDEX pk_readings RENAME TO pk_readings_unpartitioned"))
    bind.execute(sa.text(f"CREATE TABLE readings ({_columns('pk_readings')}) PARTITION BY RANGE (ts)"))
    bind.execute(sa.text("CREATE TABLE readings_default PARTITION OF readings DEFAULT"))
    days = set(bind.execute(sa.text(
        f"SELECT DISTINCT (floor(ts / {DAY_S}) * {DAY_S})::bigint AS day FROM readings_unpartitioned "
        f"ORDER BY day DESC LIMIT {MAX_DAYS}")).scalars())
    today = int(datetime.now(timezone.utc).timestamp()) // DAY_S * DAY_S
    days |= {today + k * DAY_S for k in range(-1, 4)}
    for day in sorted(days):
        bind.execute(sa.text(_partition(int(day))))
    bind.execute(sa.text(f"INSERT INTO readings ({COLUMNS}) SELECT {COLUMNS} FROM readings_unpartitioned"))
    bind.execute(sa.text("DROP TABLE readings_unpartitioned"))


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
