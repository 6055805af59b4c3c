"""ORM tables ("tables" because ``pdm.models`` holds the detectors).

Times in the hot tables (readings, scores) are epoch seconds as floats: cheap to compare,
identical on SQLite and PostgreSQL. Every company-owned row carries ``company_id`` so that
each query can filter by the tenant without a join.
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        String, Text, UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

OPEN_STATUSES = ("OPEN", "ACKNOWLEDGED", "IN_PROGRESS")
CLOSED_STATUSES = ("RESOLVED", "FALSE_ALARM")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Company(Base):
    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("company_id", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("company_id", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    asset_class: Mapped[str] = mapped_column(String(64))
    criticality: Mapped[int] = mapped_column(Integer, default=3)
    downtime_cost_per_hour: Mapped[float] = mapped_column(Float, default=0.0)


class Endpoint(Base):
    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("company_id", "name"), UniqueConstraint("company_id", "endpoint_url"))
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    endpoint_url: Mapped[str] = mapped_column(String(500))
    # The validated EndpointConfig without its nodes (those live in ``tags``); never a secret.
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), default="NEW")
    last_read_at: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    readings_total: Mapped[int] = mapped_column(Integer, default=0)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("asset_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id", ondelete="SET NULL"), index=True)
    node_id: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32), default="")


class Reading(Base):
    """One value of one tag; a re-delivered (tag, ts) is ignored, never stored twice."""

    __tablename__ = "readings"
    __table_args__ = {"sqlite_with_rowid": False}
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[float] = mapped_column(Float, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    # OPC UA StatusCode value: 0 is Good; the top two bits say Uncertain (01) or Bad (10).
    quality: Mapped[int] = mapped_column(BigInteger, default=0)  # uint32 does not fit an int4
    received_at: Mapped[float] = mapped_column(Float)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("asset_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    detector: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    trained_from: Mapped[float] = mapped_column(Float)
    trained_to: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    feature_names: Mapped[list] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = {"sqlite_with_rowid": False}
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[float] = mapped_column(Float, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per asset, enforced by the database itself so that two
        # scorers racing on one asset cannot both open one.
        Index("uq_alerts_open_asset", "asset_id", unique=True,
              sqlite_where=text("status IN ('OPEN', 'ACKNOWLEDGED', 'IN_PROGRESS')"),
              postgresql_where=text("status IN ('OPEN', 'ACKNOWLEDGED', 'IN_PROGRESS')")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    severity: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    peak_score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    # [{"tag", "contribution", "value"}], largest contribution first.
    sensors: Mapped[list] = mapped_column(JSON, default=list)
    closed_at: Mapped[float | None] = mapped_column(Float)
