"""Notifications: outbox written with the alert, real SMTP and HTTP servers, retries with backoff."""

from __future__ import annotations

import json
import logging
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from pdm.alerts import feedback, notify
from pdm.alerts.rules import ScoredRow, evaluate
from pdm.config import NotificationsConfig
from pdm.config.detection import RETURN_TO_NORMAL_ROWS
from pdm.storage.catalog import apply_plants, company_by_slug, list_assets, sync_channels
from pdm.storage.tables import Alert, Asset, ModelVersion, Notification
from tests.helpers.servers import free_port

NOW = 4_000_000_000.0  # after any real "now": every queued message is due


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode(), session.authenticated))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()

    def check(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"pdm", b"s3cret"))

    # Plain SMTP on loopback; AUTH allowed without TLS for the test only.
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=check, auth_require_tls=False)
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def tls_smtp_server(tmp_path):
    """SMTP that requires STARTTLS (and TLS before AUTH), with a self-signed certificate for 127.0.0.1."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=lambda *a: AuthResult(success=a[-1].password == b"s3cret"),
    )
    controller.start()
    yield controller.port, inbox, str(cert)
    controller.stop()


@pytest.fixture
def webhook_server():
    """Answers 500 while ``state['fail']`` > 0 (counting down), else 204; records each JSON body."""
    state = {"fail": 0, "bodies": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            state["bodies"].append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            failing = state["fail"] > 0
            state["fail"] -= failing
            self.send_response(500 if failing else 204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", state
    server.shutdown()
    server.server_close()


@pytest.fixture
def plant(sessions, small_plant):
    with sessions.begin() as s:
        apply_plants(s, small_plant)
        company = company_by_slug(s, "acme")
        asset = list_assets(s, company_id=company.id)[0]
        mv = ModelVersion(
            company_id=company.id,
            asset_id=asset.id,
            version=1,
            detector="pca",
            created_at=0,
            trained_from=0,
            trained_to=0,
            threshold=1.0,
            feature_names=["a"],
            metrics={},
            active=True,
            envelope=b"-",
        )
        s.add(mv)
        s.flush()
        return sessions, company.id, asset.id, mv.id


def _channels(plant, *, smtp_port=1, webhook="http://127.0.0.1:1/x", email_min="high", hook_min="low", **smtp):
    sessions, cid, _, _ = plant
    config = NotificationsConfig.model_validate(
        {
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "tls": "none", "from_addr": "pdm@example.org", **smtp},
            "email": [{"to": ["ops@example.org", "lead@example.org"], "min_severity": email_min}],
            "webhooks": [{"url": webhook, "min_severity": hook_min, "timeout_s": 5}],
        }
    )
    with sessions.begin() as s:
        sync_channels(s, company_id=cid, config=config)


def _alert(plant, scores, start=100.0):
    sessions, cid, aid, mv = plant
    rows = [
        ScoredRow(
            ts=start + i,
            score=x,
            sensors=[{"tag": "vibration", "contribution": 0.8, "value": x, "low": 1.0, "high": 2.0}],
        )
        for i, x in enumerate(scores)
    ]
    with sessions.begin() as s:
        alert = evaluate(
            s, company_id=cid, asset=s.get(Asset, aid), model_version_id=mv, threshold=1.0, rows=rows, debounce_rows=3
        )
        return alert and (alert.id, alert.severity)


def _outbox(sessions):
    with sessions() as s:
        return [
            (n.event, n.status, n.attempts) for n in s.execute(select(Notification).order_by(Notification.id)).scalars()
        ]


def test_an_opened_alert_queues_one_message_per_channel_its_severity_reaches(plant):
    sessions = plant[0]
    _channels(plant, email_min="critical", hook_min="medium")
    assert _alert(plant, [2, 2, 2])[1] == "medium"  # reaches the webhook only
    assert _outbox(sessions) == [("opened", "PENDING", 0)]
    # Escalation tells the channels it newly reaches, not those already told.
    assert _alert(plant, [9.0], start=200.0)[1] == "critical"
    assert _outbox(sessions) == [("opened", "PENDING", 0), ("escalated", "PENDING", 0)]


def test_an_alert_active_again_after_returning_to_normal_tells_its_channels_again(plant):
    """Back to normal is silent; the excursion coming back is news, worded as such, in one message per channel."""
    sessions, cid, aid, mv = plant
    _channels(plant, email_min="critical", hook_min="low")
    with sessions.begin() as s:
        s.get(Asset, aid).silent_period_min = 0.0
    # One batch: opens, calm rows up to the default return to normal, then a new debounced run.
    _alert(plant, [2, 2, 2] + [0.1] * RETURN_TO_NORMAL_ROWS + [2, 2, 2])
    assert _outbox(sessions) == [("opened", "PENDING", 0), ("reactivated", "PENDING", 0)]
    with sessions() as s:
        last = s.execute(select(Notification).order_by(Notification.id.desc())).scalars().first()
        alert = s.get(Alert, last.alert_id)
        assert (alert.episodes, alert.normal_since, alert.active_since) == (2, None, 103.0 + RETURN_TO_NORMAL_ROWS)
    assert last.payload["message"].endswith("active again") and last.payload["episodes"] == 2


def test_the_outbox_shares_the_alert_transaction(plant):
    sessions, cid, aid, mv = plant
    _channels(plant)
    with pytest.raises(RuntimeError):
        with sessions.begin() as s:
            evaluate(
                s,
                company_id=cid,
                asset=s.get(Asset, aid),
                model_version_id=mv,
                threshold=1.0,
                rows=[ScoredRow(ts=i, score=9, sensors=[]) for i in range(3)],
                debounce_rows=3,
            )
            raise RuntimeError("scoring failed after the alert")
    assert _outbox(sessions) == []
    with sessions() as s:
        assert s.execute(select(Alert)).first() is None


def test_email_and_webhook_are_delivered(plant, smtp_server, webhook_server, monkeypatch):
    sessions = plant[0]
    port, inbox = smtp_server
    url, hook = webhook_server
    monkeypatch.setenv("PDM_TEST_SMTP_PASSWORD", "s3cret")
    _channels(
        plant, smtp_port=port, webhook=url, email_min="low", username="pdm", password_env="PDM_TEST_SMTP_PASSWORD"
    )
    alert_id, _ = _alert(plant, [9, 9, 9])
    assert notify.send_due(sessions, now=NOW) == {"sent": 2, "retry": 0, "failed": 0}
    assert {status for _, status, _ in _outbox(sessions)} == {"SENT"}
    ((rcpt, content, authenticated),) = inbox.messages
    assert rcpt == ["ops@example.org", "lead@example.org"] and authenticated
    assert f"critical alert #{alert_id}" in content and "vibration: value 9" in content and "normal 1..2" in content
    (body,) = hook["bodies"]
    assert body["alert_id"] == alert_id and body["event"] == "opened" and body["severity"] == "critical"
    assert body["sensors"][0]["tag"] == "vibration"
    # Nothing left to send: a second pass sends nothing twice.
    assert notify.send_due(sessions, now=NOW + 10_000) == {"sent": 0, "retry": 0, "failed": 0}


def test_email_over_starttls_verifies_the_server_certificate(plant, tls_smtp_server, monkeypatch):
    sessions = plant[0]
    port, inbox, cert = tls_smtp_server
    monkeypatch.setenv("PDM_TEST_SMTP_PASSWORD", "s3cret")
    smtp = {"tls": "starttls", "username": "pdm", "password_env": "PDM_TEST_SMTP_PASSWORD"}
    # Without the CA the self-signed server is refused: a failed, retried attempt, nothing sent.
    _channels(plant, smtp_port=port, email_min="low", hook_min="critical", **smtp)
    _alert(plant, [2, 2, 2])
    assert notify.send_due(sessions, now=NOW)["retry"] == 1 and inbox.messages == []
    with sessions() as s:
        assert "CERTIFICATE_VERIFY_FAILED" in s.execute(select(Notification.last_error)).scalar_one()
    # Trusting that CA (ca_file) lets the retry through, over TLS and authenticated.
    _channels(plant, smtp_port=port, email_min="low", hook_min="critical", ca_file=cert, **smtp)
    assert notify.send_due(sessions, now=NOW + notify.BACKOFF_MAX_S)["sent"] == 1
    ((_, _, authenticated),) = inbox.messages
    assert authenticated


def test_a_failing_webhook_is_retried_with_backoff_and_logged(plant, webhook_server, caplog):
    sessions = plant[0]
    url, hook = webhook_server
    hook["fail"] = 2
    _channels(plant, webhook=url, email_min="critical")
    _alert(plant, [2, 2, 2])
    with caplog.at_level(logging.WARNING, logger="pdm.alerts.notify"):
        assert notify.send_due(sessions, now=NOW)["retry"] == 1
    assert "HTTPError" in caplog.text and "retrying in 30 s" in caplog.text
    # Not due again before its backoff ends.
    assert notify.send_due(sessions, now=NOW + 29) == {"sent": 0, "retry": 0, "failed": 0}
    assert notify.send_due(sessions, now=NOW + 30)["retry"] == 1
    with sessions() as s:
        n = s.execute(select(Notification)).scalar_one()
        assert n.attempts == 2 and n.next_attempt_at == NOW + 30 + 60 and "500" in n.last_error
    assert notify.send_due(sessions, now=NOW + 90) == {"sent": 1, "retry": 0, "failed": 0}
    assert _outbox(sessions) == [("opened", "SENT", 3)] and len(hook["bodies"]) == 3


def test_an_unreachable_server_ends_failed_and_kept_never_lost(plant, caplog, monkeypatch):
    sessions = plant[0]
    monkeypatch.setattr(notify, "MAX_ATTEMPTS", 3)
    _channels(plant, smtp_port=free_port(), email_min="low", hook_min="critical")  # nothing listens there
    _alert(plant, [2, 2, 2])
    now = NOW
    with caplog.at_level(logging.WARNING, logger="pdm.alerts.notify"):
        for _ in range(3):
            notify.send_due(sessions, now=now)
            now += notify.BACKOFF_MAX_S
    assert _outbox(sessions) == [("opened", "FAILED", 3)]
    assert "failed for good after 3 attempts" in caplog.text
    assert notify.send_due(sessions, now=now) == {"sent": 0, "retry": 0, "failed": 0}


def test_a_missing_password_is_a_recorded_failure(plant, smtp_server):
    sessions = plant[0]
    port, inbox = smtp_server
    _channels(
        plant, smtp_port=port, email_min="low", hook_min="critical", username="pdm", password_env="PDM_TEST_NOT_SET"
    )
    _alert(plant, [2, 2, 2])
    assert notify.send_due(sessions, now=NOW)["retry"] == 1
    with sessions() as s:
        assert "password_env 'PDM_TEST_NOT_SET' is not set" in s.execute(select(Notification.last_error)).scalar_one()
    assert inbox.messages == []


def test_nothing_is_sent_during_the_silent_period(plant):
    sessions, cid, _, _ = plant
    _channels(plant, email_min="low")
    alert_id, _ = _alert(plant, [2, 2, 2])
    with sessions.begin() as s:
        feedback.mark_false_alarm(s, company_id=cid, alert_id=alert_id, user="ana", reason="test", now=200.0)
        s.execute(Notification.__table__.delete())
    assert _alert(plant, [5, 5, 5, 5], start=300.0) is None  # 100 s after closing, inside the default 30 min
    assert _outbox(sessions) == []


def test_removed_channels_are_disabled_not_deleted(plant):
    sessions, cid, _, _ = plant
    _channels(plant, email_min="low")
    _alert(plant, [2, 2, 2])
    with sessions.begin() as s:
        assert sync_channels(s, company_id=cid, config=NotificationsConfig()) == 0
    assert notify.send_due(sessions, now=NOW)["retry"] == 2
    with sessions() as s:
        errors = set(s.execute(select(Notification.last_error)).scalars())
    assert errors == {"NotifyError: channel removed from the configuration"}


def test_a_french_company_gets_its_messages_in_french_on_the_site_clock():
    """The text is written in the payload's locale and zone, fixed when the message was queued."""
    p = {
        "event": "opened",
        "alert_id": 7,
        "asset_name": "Pompe P-101",
        "status": "ACKNOWLEDGED",
        "severity": "high",
        "opened_at": 1_700_002_400.0,  # 22:53 UTC, 23:53 in Paris
        "peak_score": 14522.5,
        "threshold": 3.0,
        "sensors": [{"tag": "vibration", "value": 9.25, "contribution": 0.8, "low": 1.0, "high": 2.0}],
        "locale": "fr",
        "timezone": "Europe/Paris",
    }
    text = notify._text(p).replace("\u202f", " ").replace("\xa0", " ")
    assert text.startswith("[PdM] Pompe P-101 : nouvelle alerte n° 7, gravité haute\n")
    assert "état : Acquittée" in text and "ouverte le : 14 nov. 2023, 23:53" in text
    assert "score maximal 14 522,5 pour un seuil de 3" in text
    assert "vibration : valeur 9,25, part 80 %, normale 1..2" in text
    english = notify._text({**p, "locale": "en", "timezone": None})
    assert "new high alert #7" in english and "opened: 14 Nov 2023, 22:53" in english
