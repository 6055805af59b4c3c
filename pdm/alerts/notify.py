"""Notifications: an outbox written with the alert, drained by a sender that retries.

``enqueue`` runs inside the scorer's transaction, so a notification exists exactly when the
alert change commits, and scoring never waits on a mail server. ``send_due`` (scheduled by
the worker) sends what is due, one short transaction per message. A failure is logged,
counted and retried with exponential backoff; after ``MAX_ATTEMPTS`` the row stays in the
table as FAILED with its last error: visible, never dropped silently.

Routing is per company and per severity: a channel hears about an alert once its severity
reaches the channel's ``min_severity`` (at opening, or later when the alert escalates).
The silent period needs nothing here: no alert opens during it, so nothing is queued.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import time
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pdm import i18n
from pdm.config import severity_rank
from pdm.errors import PdmError
from pdm.storage.tables import Alert, Asset, Company, Notification, NotificationChannel, Site

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0

Transport = Callable[[NotificationChannel, dict], None]


class NotifyError(PdmError):
    """A notification could not be delivered (it stays queued and is retried)."""


def payload(alert: Alert, asset: Asset, event: str, *, lang: str = "en", tz: str | None = None) -> dict:
    """The message's facts; ``locale`` and ``timezone`` say how its text is written (the company's
    language, the site's clock), and ``message`` is that text's subject line, for chat webhooks."""
    body = {
        "event": event,
        "alert_id": alert.id,
        "asset": asset.slug,
        "asset_name": asset.name or asset.slug,
        "status": alert.status,
        "severity": alert.severity,
        "opened_at": alert.opened_at,
        "last_seen_at": alert.last_seen_at,
        "active_since": alert.active_since or alert.opened_at,
        "episodes": alert.episodes or 1,
        "peak_score": alert.peak_score,
        "threshold": alert.threshold,
        "sensors": alert.sensors or [],
        "locale": lang,
        "timezone": tz or "UTC",
    }
    body["message"] = _subject(body)
    return body


def _audience(session: Session, alert: Alert, asset: Asset) -> tuple[str, str | None]:
    """The company's language and the asset's site zone: a message is read by the plant's people."""
    company, site = session.get(Company, alert.company_id), session.get(Site, asset.site_id)
    return i18n.language(company.locale if company else None), site.timezone if site else None


def enqueue(
    session: Session,
    *,
    alert: Alert,
    asset: Asset,
    event: str,
    previous_severity: str | None = None,
    now: float | None = None,
) -> int:
    """Queue one message per channel newly reached by the alert's severity; returns how many."""
    now = time.time() if now is None else now
    channels = session.execute(
        select(NotificationChannel).where(
            NotificationChannel.company_id == alert.company_id, NotificationChannel.enabled.is_(True)
        )
    ).scalars()
    reached = [
        c
        for c in channels
        if severity_rank(c.min_severity) <= severity_rank(alert.severity)
        and (previous_severity is None or severity_rank(c.min_severity) > severity_rank(previous_severity))
    ]
    lang, tz = _audience(session, alert, asset)
    body = payload(alert, asset, event, lang=lang, tz=tz)
    for channel in reached:
        session.add(
            Notification(
                company_id=alert.company_id,
                alert_id=alert.id,
                channel_id=channel.id,
                event=event,
                payload=body,
                status="PENDING",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    return len(reached)


def backoff_s(attempts: int) -> float:
    return min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


def send_due(
    session_factory: sessionmaker[Session],
    *,
    now: float | None = None,
    limit: int = 100,
    transports: Mapping[str, Transport] | None = None,
) -> dict[str, int]:
    """Send every queued message that is due; returns counts of sent, retry and failed."""
    now = time.time() if now is None else now
    transports = TRANSPORTS if transports is None else transports
    with session_factory() as session:
        due = list(
            session.execute(
                select(Notification.id)
                .where(Notification.status == "PENDING", Notification.next_attempt_at <= now)
                .order_by(Notification.next_attempt_at)
                .limit(limit)
            ).scalars()
        )
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for notification_id in due:
        outcome = _send_one(session_factory, notification_id, now=now, transports=transports)
        if outcome:
            counts[outcome] += 1
    return counts


def _send_one(
    session_factory: sessionmaker[Session], notification_id: int, *, now: float, transports: Mapping[str, Transport]
) -> str | None:
    with session_factory.begin() as session:
        # SKIP LOCKED (PostgreSQL): a second sender passes over a message being sent.
        n = session.execute(
            select(Notification)
            .where(Notification.id == notification_id, Notification.status == "PENDING")
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if n is None:
            return None
        try:
            channel = session.get(NotificationChannel, n.channel_id) if n.channel_id else None
            if channel is None or not channel.enabled:
                raise NotifyError("channel removed from the configuration")
            if channel.kind not in transports:
                raise NotifyError(f"no transport for channel kind {channel.kind!r}")
            transports[channel.kind](channel, n.payload)
        except Exception as exc:
            return _failed(n, exc, now)
        n.status, n.sent_at, n.attempts, n.last_error = "SENT", now, n.attempts + 1, None
        return "sent"


def _failed(n: Notification, exc: Exception, now: float) -> str:
    n.attempts += 1
    n.last_error = " ".join(f"{type(exc).__name__}: {exc}".split())[:1000]
    if n.attempts >= MAX_ATTEMPTS:
        n.status = "FAILED"
        log.error(
            "notification %s for alert %s failed for good after %d attempts: %s",
            n.id,
            n.alert_id,
            n.attempts,
            n.last_error,
        )
        return "failed"
    n.next_attempt_at = now + backoff_s(n.attempts)
    log.warning(
        "notification %s for alert %s failed (attempt %d), retrying in %.0f s: %s",
        n.id,
        n.alert_id,
        n.attempts,
        n.next_attempt_at - now,
        n.last_error,
    )
    return "retry"


def _subject(p: dict) -> str:
    lang = p.get("locale", "en")
    _ = i18n.gettext_for(lang)
    subjects = {
        "escalated": _("[PdM] {asset}: {severity} alert #{id} escalated"),
        "reactivated": _("[PdM] {asset}: {severity} alert #{id} active again"),
    }
    what = subjects.get(p["event"]) or _("[PdM] {asset}: new {severity} alert #{id}")
    return what.format(asset=p["asset_name"], severity=i18n.severity_word(p["severity"], lang), id=p["alert_id"])


def _text(p: dict) -> str:
    lang = p.get("locale", "en")
    _ = i18n.gettext_for(lang)

    def num(value) -> str:
        return i18n.format_number(value, lang=lang, digits=3) if isinstance(value, (int, float)) else str(value)

    lines = [
        _subject(p),
        "",
        _("status: {status}").format(status=i18n.status_word(p["status"], lang)),
        _("opened: {when}").format(when=i18n.format_when(p.get("opened_at"), lang=lang, tz=p.get("timezone"))),
        _("peak score {peak} over threshold {threshold}").format(
            peak=num(p["peak_score"]), threshold=num(p["threshold"])
        ),
        "",
        _("contributing sensors:"),
    ]
    for s in p.get("sensors", []):
        share = i18n.format_share(s.get("contribution", 0), lang=lang)
        line = _("  {tag}: value {value}, share {share}").format(
            tag=s.get("tag"), value=num(s.get("value")), share=share
        )
        if "low" in s:
            line += _(", normal {low}..{high}").format(low=num(s["low"]), high=num(s["high"]))
        lines.append(line)
    return "\n".join(lines) + "\n"


def send_email(channel: NotificationChannel, p: dict) -> None:
    cfg = channel.settings
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = cfg["from_addr"], channel.target, _subject(p)
    msg.set_content(_text(p))
    timeout = float(cfg.get("timeout_s", 10.0))
    # Certificates are always verified; a private CA is trusted through ca_file, never by turning checks off.
    context = ssl.create_default_context(cafile=cfg.get("ca_file"))
    if cfg.get("tls") == "ssl":
        smtp = smtplib.SMTP_SSL(cfg["host"], cfg["port"], timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(cfg["host"], cfg["port"], timeout=timeout)
    with smtp:
        if cfg.get("tls", "starttls") == "starttls":
            smtp.starttls(context=context)
        if cfg.get("username"):
            smtp.login(cfg["username"], _secret(cfg.get("password_env")))
        smtp.send_message(msg)


def _secret(env_name: str | None) -> str:
    if not env_name or env_name not in os.environ:
        raise NotifyError(f"password_env {env_name!r} is not set in the environment")
    return os.environ[env_name]


def send_webhook(channel: NotificationChannel, p: dict) -> None:
    request = urllib.request.Request(
        channel.target,
        data=json.dumps(p).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "pdm-notify"},
    )
    # urlopen raises HTTPError for 4xx/5xx: that is a failed attempt like any other.
    with urllib.request.urlopen(request, timeout=float(channel.settings.get("timeout_s", 10.0))) as response:
        response.read()


TRANSPORTS: dict[str, Transport] = {"email": send_email, "webhook": send_webhook}
