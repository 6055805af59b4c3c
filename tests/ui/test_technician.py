"""The technician's flow through AppTest on a real SQLite database: act on an alert, see its history."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Alert, AlertEvent, AuditEvent
from tests.helpers.app import app_db, page_text
from tests.helpers.login import logged_in


@pytest.fixture
def db(tmp_path) -> str:
    # Per test: these tests write.
    return app_db(tmp_path / "pdm.sqlite3")


def _query(url: str, stmt):
    engine = make_engine(url)
    with session_factory(engine)() as session:
        rows = session.execute(stmt).all()
    engine.dispose()
    return rows


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


@pytest.fixture
def at(monkeypatch, db):
    app = _ok(logged_in(monkeypatch, db, "ana", "technician", "alpha", page="alerts"))
    ((company_id, alert_id),) = _query(db, select(Alert.company_id, Alert.id))
    _ok(app.selectbox(key=f"alert_pick_{company_id}").set_value(alert_id).run())
    return app, alert_id


def _alert(url: str, alert_id: int) -> Alert:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        alert = session.get(Alert, alert_id)
    engine.dispose()
    return alert


def _buttons(app: AppTest) -> list[str]:
    return [b.label for b in app.button]


def test_acknowledge_take_in_hand_and_resolve_with_feedback(at, db):
    app, aid = at
    assert {"Acknowledge", "Take in hand"} <= set(_buttons(app)) and "Reopen" not in _buttons(app)
    _ok(app.button(key=f"acknowledge_{aid}").click().run())
    assert f"Alert #{aid} acknowledged" in [s.value for s in app.success]
    assert "**ACKNOWLEDGED**" in page_text(app) and "Acknowledge" not in _buttons(app)
    _ok(app.button(key=f"start_{aid}").click().run())
    assert "**IN_PROGRESS**" in page_text(app) and "assigned to ana" in page_text(app)
    # The resolve form: set the inputs, submit, run once.
    app.selectbox(key=f"fm_{aid}").set_value("bearing_wear")
    app.text_area(key=f"action_{aid}").input("replaced the drive-end bearing")
    app.number_input(key=f"downtime_{aid}").set_value(8.0)
    app.number_input(key=f"cost_{aid}").set_value(320.0)
    _ok(app.button(key=f"FormSubmitter:resolve_form_{aid}-Resolve").click().run())
    assert f"Alert #{aid} resolved" in [s.value for s in app.success]
    alert = _alert(db, aid)
    assert (alert.status, alert.acknowledged_by, alert.started_by, alert.closed_by) == ("RESOLVED", "ana", "ana", "ana")
    assert (alert.failure_mode, alert.action_taken, alert.downtime_avoided_h, alert.repair_cost) == (
        "bearing_wear",
        "replaced the drive-end bearing",
        8.0,
        320.0,
    )
    assert "Reopen" in _buttons(app) and "**RESOLVED**" in page_text(app)
    kinds = [k for (k,) in _query(db, select(AlertEvent.kind).order_by(AlertEvent.id))]
    assert kinds == ["acknowledge", "start", "resolve"]


def test_false_alarm_needs_a_reason_and_is_signed_by_the_logged_in_user(at, db):
    app, aid = at
    _ok(app.button(key=f"FormSubmitter:false_form_{aid}-Mark as false alarm").click().run())
    assert [e.value for e in app.error] == ["reason = '': required"]
    assert _alert(db, aid).status == "OPEN"
    # No "Your name" field any more: the step is signed by the logged-in user.
    assert not app.sidebar.text_input
    app.text_input(key=f"reason_{aid}").input("sensor cable loose")
    _ok(app.button(key=f"FormSubmitter:false_form_{aid}-Mark as false alarm").click().run())
    alert = _alert(db, aid)
    assert (alert.status, alert.false_alarm_reason, alert.closed_by) == ("FALSE_ALARM", "sensor cable loose", "ana")
    assert ("alert_false_alarm", "ana") in _query(db, select(AuditEvent.action, AuditEvent.actor))


def test_comment_and_assign_show_in_the_history(at, db):
    app, aid = at
    app.text_area(key=f"comment_{aid}").input("vibration rising since the night shift")
    _ok(app.button(key=f"FormSubmitter:comment_form_{aid}-Add comment").click().run())
    app.text_input(key=f"assignee_{aid}").input("bob")
    _ok(app.button(key=f"FormSubmitter:assign_form_{aid}-Assign").click().run())
    assert _alert(db, aid).assignee == "bob" and "assigned to bob" in page_text(app)
    history = app.dataframe[-1].value
    assert list(history["what"]) == ["comment", "assign"]
    assert history["comment"].iloc[0] == "vibration rising since the night shift"


def test_filters_hide_what_does_not_match(at):
    app, aid = at
    app.multiselect(key="f_status_1").set_value(["RESOLVED"]).run()
    assert "No alerts for Alpha Foods" in page_text(_ok(app))
    app.multiselect(key="f_status_1").set_value(["OPEN"]).run()
    assert "Pump A1" in page_text(_ok(app))


def test_normal_ranges_are_shaded_on_the_telemetry(at, db):
    app, aid = at
    engine = make_engine(db)
    with session_factory(engine).begin() as session:
        session.get(Alert, aid).sensors = [
            {"tag": "vibration", "contribution": 0.7, "value": 9.1, "low": 1.0, "high": 5.0, "median": 3.0}
        ]
    engine.dispose()
    _ok(app.run())
    telemetry = app.get("vega_lite_chart")[0]
    spec = json.loads(telemetry.proto.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["area", "line"]
    # No facet and no fixed width: the chart takes its column's width (a phone screen included).
    assert "facet" not in spec and "width" not in spec


def test_alert_links_to_its_asset_page_and_back(at, db):
    app, aid = at
    ((asset_id,),) = _query(db, select(Alert.asset_id))
    (link,) = app.get("page_link")
    assert link.proto.page == "assets" and link.proto.label.startswith("Pump A1")
    assert sorted(link.proto.query_string.split("&")) == [f"alert={aid}", f"asset={asset_id}"]
    # Follow it as the browser does: the assets page with the link's parameters.
    app._page_hash = calc_hash("assets")
    app.query_params["asset"], app.query_params["alert"] = str(asset_id), str(aid)
    _ok(app.run())
    assert app.title[0].value == "Assets" and app.selectbox(key="asset_pick_1").value == asset_id
    assert "Alert history" in page_text(app)
    (back,) = app.get("page_link")
    # The alerts page is the default one: its link is the app's root, known by its page hash.
    assert (back.proto.page_script_hash, back.proto.query_string, back.proto.label) == (
        calc_hash("alerts"),
        f"alert={aid}",
        f"← Back to alert #{aid}",
    )
    app._page_hash = calc_hash("alerts")
    app.query_params["alert"] = str(aid)
    _ok(app.run())
    assert app.selectbox(key="alert_pick_1").value == aid and f"alert #{aid}" in page_text(app)


def test_a_linked_id_of_another_company_shows_nothing_of_it(at, monkeypatch, db):
    app, aid = at
    ((asset_id,),) = _query(db, select(Alert.asset_id))
    other = _ok(logged_in(monkeypatch, db, "bea", "technician", "beta", page="alerts"))
    other.query_params["alert"] = str(aid)
    _ok(other.run())
    assert "No alerts for Beta Metals" in page_text(other) and "Pump A1" not in page_text(other)
    other._page_hash = calc_hash("assets")
    other.query_params["asset"] = str(asset_id)
    _ok(other.run())
    assert "Pump A1" not in page_text(other) and not other.get("page_link")


def test_asset_page_shows_the_alert_history(at, db):
    app, aid = at
    app.text_input(key=f"reason_{aid}").input("test run")
    _ok(app.button(key=f"FormSubmitter:false_form_{aid}-Mark as false alarm").click().run())
    app._page_hash = calc_hash("assets")
    _ok(app.run())
    assert app.title[0].value == "Assets"
    app.selectbox(key="asset_pick_1").select_index(1).run()  # assets sorted by slug: fan-a2, pump-a1
    text = page_text(_ok(app))
    assert "Alert history" in text and "FALSE_ALARM" in text and "test run" in text
    assert {m.label: m.value for m in app.metric}["false alarms"] == "1"


def test_another_company_sees_nothing_to_act_on(at, monkeypatch, db):
    app, aid = at
    assert [s.key for s in app.sidebar.selectbox] == ["pdm_lang_pick"]  # a technician has no company picker
    other = _ok(logged_in(monkeypatch, db, "bea", "technician", "beta", page="alerts"))
    text = page_text(other)
    assert "No alerts for Beta Metals" in text and not other.main.button


def test_the_alert_says_whether_its_excursion_is_going_on_or_back_to_normal(at, db):
    app, aid = at
    assert "Excursion going on since" in page_text(app) and "(excursion 1)" in page_text(app)
    engine = make_engine(db)
    with session_factory(engine).begin() as session:
        alert = session.get(Alert, aid)
        alert.normal_since, alert.episodes = alert.last_seen_at + 60.0, 2
    engine.dispose()
    _ok(app.run())
    assert "Back to normal since" in page_text(app) and "(excursion 2)" in page_text(app)
