"""Alembic: upgrade on an empty database, downgrade to nothing, upgrade again — on both backends."""

from sqlalchemy import inspect

from pdm.storage.partitions import is_partition_name
from pdm.storage.session import downgrade, is_initialised, make_engine, upgrade
from pdm.storage.tables import Base


def test_upgrade_creates_every_table_and_downgrade_removes_them(db_url):
    engine = make_engine(db_url)
    assert not is_initialised(engine)
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    downgrade(engine, "base")
    assert not set(Base.metadata.tables) & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migrations_agree(engine):
    """A table or column added to tables.py without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        # Day partitions of readings are made at run time, not declared in the ORM.
        opts = {"include_name": lambda name, kind, _p: not (kind == "table" and is_partition_name(name))}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []


def _readings(engine):
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT tag_id, ts, value, quality, received_at FROM readings ORDER BY ts")).all()


def test_readings_are_kept_through_partitioning_upgrade_and_downgrade(db_url):
    """0006p turns readings into day partitions on PostgreSQL and back; SQLite keeps its table."""
    import time

    from sqlalchemy import text

    from pdm.storage import partitions

    engine = make_engine(db_url)
    upgrade(engine, "0005")
    now = time.time()
    rows = [
        (1, ts, float(i), q, now)
        for i, (ts, q) in enumerate(
            [(631_152_000.5, 0), (now - 3 * 86_400, 0x80000000), (now - 1.25, 0), (now, 0), (now + 86_400 * 9, 0)]
        )
    ]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO companies (id, slug, name) VALUES (1, 'c', 'c')"))
        conn.execute(text("INSERT INTO sites (id, company_id, slug, name) VALUES (1, 1, 's', 's')"))
        conn.execute(
            text(
                "INSERT INTO assets (id, company_id, site_id, slug, name, asset_class, criticality, "
                "downtime_cost_per_hour) VALUES (1, 1, 1, 'a', 'a', 'centrifugal_pump', 3, 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO tags (id, company_id, asset_id, node_id, name, unit) VALUES (1, 1, 1, 'ns=2;s=x', 't', '')"
            )
        )
        conn.execute(
            text("INSERT INTO readings VALUES (:t, :ts, :v, :q, :r)"),
            [dict(zip("t ts v q r".split(), r)) for r in rows],
        )
    upgrade(engine)
    assert _readings(engine) == rows
    with engine.connect() as conn:
        assert partitions.is_partitioned(conn) == (engine.dialect.name == "postgresql")
        if engine.dialect.name == "postgresql":
            # The old table became the DEFAULT partition (not copied); yesterday to 3 days ahead
            # have their partitions at once, older and later days wait for maintenance.
            recent = partitions.day_start(now) - 86_400
            for _, ts, *_ in rows:
                in_own = recent <= ts < recent + 5 * 86_400
                assert partitions.partition_of(conn, 1, ts) == (
                    partitions.partition_for(ts).name if in_own else partitions.DEFAULT_PARTITION
                )
    assert "readings_1m" in inspect(engine).get_table_names()
    downgrade(engine, "0005")
    assert _readings(engine) == rows
    with engine.connect() as conn:
        assert not partitions.is_partitioned(conn)
    assert inspect(engine).get_pk_constraint("readings")["name"] == "pk_readings"
    names = inspect(engine).get_table_names()
    assert "readings_1m" not in names and not [n for n in names if partitions.is_partition_name(n)]
    upgrade(engine)
    assert _readings(engine) == rows
    if engine.dialect.name == "postgresql":
        _maintenance_splits_the_days_left_in_default(engine, rows, now)
    engine.dispose()


def _maintenance_splits_the_days_left_in_default(engine, rows, now):
    from sqlalchemy import text

    from pdm.config import RetentionConfig
    from pdm.storage import partitions
    from pdm.storage.retention import maintain

    report = maintain(engine, RetentionConfig(raw_days=3650, aggregate_days=36500), now=now)
    assert report.rows_aggregated == 1  # the 1990 reading is past any raw horizon: folded into minutes
    assert _readings(engine) == rows[1:]
    with engine.connect() as conn:
        for _, ts, *_ in rows[1:]:
            assert partitions.partition_of(conn, 1, ts) == partitions.partition_for(ts).name
        assert conn.execute(text(f"SELECT count(*) FROM {partitions.DEFAULT_PARTITION}")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM readings_1m")).scalar_one() == 1
