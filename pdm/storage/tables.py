"""ORM tables ("tables" because ``pdm.models`` holds the detectors).

Times in the hot tables (readings, scores) are epoch seconds as floats: cheap to compare,
identical on SQLite and PostgreSQL. Every company-owned row carries ``company_id`` so that
each query can filter by the tenant without a join.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
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
    # The app's default language for its users ("fr", "en"); None: English.
    locale: Mapped[str | None] = mapped_column(String(16))
    # Whether other members see this company's notes (action taken, names) on similar past cases.
    share_notes: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("company_id", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    # IANA zone the site's times are shown in ("Europe/Paris"); None: UTC.
    timezone: Mapped[str | None] = mapped_column(String(64))


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
    # None: the detection config's default applies.
    silent_period_min: Mapped[float | None] = mapped_column(Float)
    # A validated pdm.config.CostModel (only the fields set): overrides of the class defaults.
    cost_overrides: Mapped[dict | None] = mapped_column(JSON)
    # A validated pdm.config.AssetDetection (only the fields set): DetectionConfig.for_asset applies it.
    detection: Mapped[dict | None] = mapped_column(JSON)
    # Why the latest training gave no model (every detector refused the asset, an error), and
    # when; None once a training succeeds. Shown on the asset page.
    training_note: Mapped[str | None] = mapped_column(Text)
    training_note_at: Mapped[float | None] = mapped_column(Float)
    # The latest row scoring has scored or left out as stopped (pdm.models.scoring): a stopped row
    # leaves no score, so without this each pass during a long stop would read the whole stop again.
    considered_to: Mapped[float | None] = mapped_column(Float)


class CostDefault(Base):
    """The cluster-wide cost model of one asset class (a validated pdm.config.CostModel)."""

    __tablename__ = "cost_defaults"
    id: Mapped[int] = mapped_column(primary_key=True)
    asset_class: Mapped[str] = mapped_column(String(64), unique=True)
    costs: Mapped[dict] = mapped_column(JSON, default=dict)


class Endpoint(Base):
    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("company_id", "name"), UniqueConstraint("company_id", "endpoint_url"))
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    endpoint_url: Mapped[str] = mapped_column(String(500))
    # Which connector reads it (pdm.connectors.CONNECTORS); its settings are that kind's model.
    kind: Mapped[str] = mapped_column(String(16), default="opcua", server_default="opcua")
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


class ReadingMinute(Base):
    """One tag's readings of one minute, kept after the raw rows expire (``pdm.storage.retention``).

    ``min``/``mean``/``max``/``count`` cover Good readings only; ``bad_count`` counts the
    Uncertain or Bad ones, so a chart can say how much of a minute was trustworthy.
    """

    __tablename__ = "readings_1m"
    __table_args__ = {"sqlite_with_rowid": False}
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[float] = mapped_column(Float, primary_key=True)  # epoch seconds of the minute's start
    min: Mapped[float | None] = mapped_column(Float)
    mean: Mapped[float | None] = mapped_column(Float)
    max: Mapped[float | None] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer, default=0)
    bad_count: Mapped[int] = mapped_column(Integer, default=0)


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
    # active (the one that scores), retired (replaced) or rejected (a challenger that lost); and why.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    reason: Mapped[str | None] = mapped_column(Text)


class DetectorState(Base):
    """Where a sequential detector (``rebase``) left off scoring an asset with one model version:
    the baseline it moved to, an open alarm episode's peak, and the time of the first calm row
    counted toward the episode's end (the next run scores again from there, fewer than
    ``settle_rows`` rows). A row's score then does not depend on how the rows were cut into runs."""

    __tablename__ = "detector_states"
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    resume_ts: Mapped[float | None] = mapped_column(Float)
    state: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


class FleetModel(Base):
    """A model of one asset class, trained on several companies' normalised normal data.

    Cluster-owned (no company): it holds the fitted detector's aggregates and the class's
    nominal values per sensor (medians and spreads over member assets), never a reading. An
    asset scored by it gets a ``model_versions`` row of its own company naming it (detector
    ``fleet:<class>``) that holds only that asset's normalisation.
    """

    __tablename__ = "fleet_models"
    __table_args__ = (UniqueConstraint("asset_class", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    asset_class: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    detector: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    trained_from: Mapped[float] = mapped_column(Float)
    trained_to: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    feature_names: Mapped[list] = mapped_column(JSON)
    # {"location": {tag: mean over member assets}, "spread": {...}, "scale": {...}, "members": n}
    nominal: Mapped[dict] = mapped_column(JSON)
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
        Index(
            "uq_alerts_open_asset",
            "asset_id",
            unique=True,
            sqlite_where=text("status IN ('OPEN', 'ACKNOWLEDGED', 'IN_PROGRESS')"),
            postgresql_where=text("status IN ('OPEN', 'ACKNOWLEDGED', 'IN_PROGRESS')"),
        ),
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
    # The asset's data clock when it closed (its latest reading): the silent period runs from here,
    # on the data's time, which is not the wall clock for a replayed or accelerated plant.
    closed_data_at: Mapped[float | None] = mapped_column(Float)
    # ISA-18.2 states on the data's clock: the current excursion began at ``active_since`` (None on
    # alerts older than this column: their ``opened_at``); ``normal_since`` is set once it has
    # returned to normal, cleared when a new excursion makes it active again; ``episodes`` counts them.
    active_since: Mapped[float | None] = mapped_column(Float)
    normal_since: Mapped[float | None] = mapped_column(Float)
    episodes: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # Who did each step; the full history (with comments) is in ``alert_events``.
    acknowledged_at: Mapped[float | None] = mapped_column(Float)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[float | None] = mapped_column(Float)
    started_by: Mapped[str | None] = mapped_column(String(100))
    closed_by: Mapped[str | None] = mapped_column(String(100))
    assignee: Mapped[str | None] = mapped_column(String(100))
    # Feedback: RESOLVED fills failure_mode (a failure_modes code) and the rest; FALSE_ALARM the reason.
    failure_mode: Mapped[str | None] = mapped_column(String(64))
    action_taken: Mapped[str | None] = mapped_column(Text)
    downtime_avoided_h: Mapped[float | None] = mapped_column(Float)
    repair_cost: Mapped[float | None] = mapped_column(Float)
    false_alarm_reason: Mapped[str | None] = mapped_column(Text)


class SimilarCaseFeedback(Base):
    """A technician's verdict on a past case suggested for an alert: ``helpful`` or ``not_same``.
    The ranking counts every company's verdicts on a case; only the verdict's own company sees
    who gave it."""

    __tablename__ = "similar_case_feedback"
    __table_args__ = (UniqueConstraint("alert_id", "case_alert_id", "by"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    case_alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[float] = mapped_column(Float)


class AlertEvent(Base):
    """The audit trail: one row per step, assignment or comment, never updated."""

    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class FailureMode(Base):
    """Failure modes a resolution can name; cluster-wide, extended by the cluster operator."""

    __tablename__ = "failure_modes"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    # None: applies to every asset class.
    asset_class: Mapped[str | None] = mapped_column(String(64))
    # The ISO 14224 failure mechanism it is filed under (pdm.alerts.iso14224); None: not filed.
    iso14224: Mapped[str | None] = mapped_column(String(8))


class NotificationChannel(Base):
    """Where a company's alerts go: an e-mail route (with its SMTP settings) or a webhook URL."""

    __tablename__ = "notification_channels"
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(1000))
    min_severity: Mapped[str] = mapped_column(String(16))
    # SMTP host/port/tls/username/password_env/from or webhook timeout; a secret only by env reference.
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Notification(Base):
    """The outbox: written in the alert's transaction, drained by ``pdm.alerts.notify.send_due``."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("notification_channels.id", ondelete="SET NULL"))
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")  # PENDING, SENT, FAILED
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """A person who logs in; technicians and engineers belong to exactly one company."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    # None for the cluster reviewer and the admin: they are not a member of any company.
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)
    # Bumped on password change or disable: session tokens issued before it stop working.
    token_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # The language the user chose in the app; None: the company's locale applies.
    language: Mapped[str | None] = mapped_column(String(16))


class LoginAttempt(Base):
    """The throttle's memory: failed logins by user name and source (also for names that do not exist),
    and the last success of each name from each source (a known source is not slowed by others' failures)."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_name_at", "username", "at"),
        Index("ix_login_attempts_name_source", "username", "source"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)
    # Web: the client's address as Streamlit sees it; command line: "cli:<os user>@<host>".
    source: Mapped[str] = mapped_column(String(128), default="", server_default="")
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CliSession(Base):
    """A ``pdmctl login``: only the token's SHA-256 is kept, so a copy of the database logs nobody in."""

    __tablename__ = "cli_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The user's token_epoch at login: a password change or a disable ends the session.
    token_epoch: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(128))


class HostKey(Base):
    """The fingerprint of the host's secret key, written by the first ``pdmctl --local-admin``: later
    local-admin commands must hold the same key (a key made in some other folder proves nothing)."""

    __tablename__ = "host_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))


class AuditEvent(Base):
    """Security-relevant actions, append-only; ``company_id`` None for cluster-wide ones."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict] = mapped_column(JSON, default=dict)


class IngestWorker(Base):
    """A live ingest worker (until ``expires_at``): endpoints are shared out among these."""

    __tablename__ = "ingest_workers"
    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class EndpointLease(Base):
    """Which worker reads an endpoint; one row per endpoint, so two workers cannot both hold it."""

    __tablename__ = "endpoint_leases"
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    worker_id: Mapped[str] = mapped_column(String(200), index=True)
    acquired_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    # Not renewed by then: the worker is taken for dead and another may take the endpoint over.
    expires_at: Mapped[float] = mapped_column(Float)


class EndpointHealth(Base):
    """What the worker reading an endpoint last reported, so any host's status page can show it."""

    __tablename__ = "endpoint_health"
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    worker_id: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[float] = mapped_column(Float)
    readings_per_s: Mapped[float] = mapped_column(Float, default=0.0)
    errors_last_hour: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    spool_rows: Mapped[int] = mapped_column(Integer, default=0)
    nodes: Mapped[int | None] = mapped_column(Integer)  # nodes read; None: not reported yet
    history_nodes: Mapped[int | None] = mapped_column(Integer)  # of which the server keeps history
    backfilled: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )  # read back since the poller started
    quirks: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )  # values or clocks not taken as they came


class Gap(Base):
    """A stretch of data never stored: missed while an endpoint was unreachable and not backfilled.

    ``tag_id`` None means every tag the endpoint feeds. ``start_ts``/``end_ts`` are epoch seconds
    (the last value stored before, the first after, when known); ``reason`` says why the stretch
    could not be read back (e.g. the server's status code name, "no history on this server").
    """

    __tablename__ = "gaps"
    __table_args__ = (Index("ix_gaps_endpoint_start", "endpoint_id", "start_ts"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), index=True)
    start_ts: Mapped[float] = mapped_column(Float)
    end_ts: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[float] = mapped_column(Float)
