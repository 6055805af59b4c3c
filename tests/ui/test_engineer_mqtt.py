"""Engineer page: adding MQTT and Sparkplug B endpoints through AppTest (validate, log in to the broker, save
with the tags), refusals under their field, and the endpoints list of a mixed company."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from pdm.access import crypto
from pdm.config import endpoint_config
from pdm.storage.catalog import company_by_slug, list_assets, store_endpoint
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import AuditEvent, Reading, Site, Tag
from tests.helpers.app import app_db, open_page, page_text
from tests.helpers.engineer import endpoints, error_after
from tests.helpers.login import logged_in
from tests.helpers.mosquitto import Broker
from tests.helpers.servers import free_port

SUBMIT = "FormSubmitter:add_mqtt-Test and save"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "pdm.sqlite3"
    app_db(path)
    return path


@pytest.fixture
def db(template, tmp_path) -> str:
    """A copy of the migrated, filled database: migrating once per test would be most of its time."""
    shutil.copy(template, tmp_path / "pdm.sqlite3")
    return f"sqlite:///{tmp_path / 'pdm.sqlite3'}"


@pytest.fixture
def page(monkeypatch, db, tmp_path) -> AppTest:
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    return open_page(logged_in(monkeypatch, db, "eve", "engineer", "alpha", timeout=60), "endpoints")


def fill(at: AppTest, kind: str = "mqtt", rows: list[dict] | None = None, **values) -> AppTest:
    """Pick the kind, add the tag rows, type the values (``rows``: one dict per tag) and submit."""
    at.radio(key="ep_kind").set_value(kind).run()
    rows = rows or []
    for _ in rows[1:]:
        at.button(key="mq_more").click().run()
    for field, value in values.items():
        if field == "qos":
            at.number_input(key="mq_qos").set_value(value)
        else:
            at.text_input(key=f"mq_{field}").input(value)
    for i, row in enumerate(rows):
        for field, value in row.items():
            if field == "asset":
                at.selectbox(key=f"mq_asset_{i}").set_value(value)
            else:
                at.text_input(key=f"mq_{field}_{i}").input(value)
    at.button(key=SUBMIT).click().run()
    assert not at.exception, at.exception
    return at


def tags_of(db: str, endpoint_id: int) -> dict[str, tuple[str, str]]:
    engine = make_engine(db)
    with session_factory(engine)() as s:
        tags = s.execute(select(Tag).where(Tag.endpoint_id == endpoint_id)).scalars().all()
        out = {t.name: (t.node_id, t.unit) for t in tags}
    engine.dispose()
    return out


def test_an_mqtt_endpoint_is_saved_with_its_kind_and_tags(page, db, broker):
    rows = [
        {"tag": "inlet_temp", "asset": "pump-a1", "unit": "degC", "topic": "alpha/p1/temp"},
        {"tag": "outlet_flow", "asset": "fan-a2", "topic": "alpha/f2/json", "json_path": "data.flow[0]"},
    ]
    at = fill(page, rows=rows, name="broker-1", url=broker.url, client_id="pdm-alpha-1", qos=0)
    assert "Saved broker-1" in at.success[0].value and "2 tags" in at.success[0].value
    saved = endpoints(db)["broker-1"]
    assert (saved.kind, saved.endpoint_url) == ("mqtt", broker.url)
    assert (saved.settings["qos"], saved.settings["client_id"]) == (0, "pdm-alpha-1")
    assert tags_of(db, saved.id) == {
        "inlet_temp": ("mqtt:alpha/p1/temp", "degC"),
        "outlet_flow": ("mqtt:alpha/f2/json#data.flow[0]", ""),
    }
    listed = at.dataframe[0].value.set_index("name")["kind"]
    assert (listed["broker-1"], listed["ep-alpha"]) == ("MQTT", "OPC UA")
    qos = at.number_input(key="mq_qos").proto
    assert (qos.has_min, qos.min, qos.has_max, qos.max) == (True, 0, True, 2)  # bounded in the widget


def test_a_sparkplug_endpoint_is_saved_with_its_metrics(page, db, broker):
    row = {"tag": "force", "asset": "pump-a1", "group": "plant", "edge_node": "gw1", "device": "press"}
    at = fill(page, "sparkplug", rows=[row | {"metric": "Press/Force"}], name="spb-1", url=broker.url)
    assert "Saved spb-1" in at.success[0].value
    saved = endpoints(db)["spb-1"]
    assert saved.kind == "mqtt"
    assert tags_of(db, saved.id) == {"force": ("spb:plant/gw1/press/Press/Force", "")}
    assert at.dataframe[0].value.set_index("name")["kind"]["spb-1"] == "Sparkplug B"


TAG = {"tag": "inlet_temp", "asset": "pump-a1", "topic": "alpha/p1/temp"}


@pytest.mark.parametrize(
    ("values", "rows", "label", "message"),
    [
        ({"url": "http://broker:1883"}, [TAG], "Broker URL", "expected mqtt://host[:port]"),
        ({}, [{"tag": "inlet_temp", "asset": "pump-a1", "unit": "degC"}], "Topic", "(got '')"),
        ({}, [TAG | {"topic": "alpha/+/temp"}], "Topic", "takes no wildcard"),
        ({}, [TAG | {"tag": "vibration"}], "Tag", "pump-a1 already has a tag 'vibration'"),
        ({"name": "ep-alpha"}, [TAG], "Name", "already has an endpoint named 'ep-alpha'"),
        ({"password_env": "MQTT_PW"}, [TAG], "Password environment variable", "a password needs a username"),
    ],
)
def test_a_refusal_is_shown_under_its_field_and_nothing_is_saved(page, db, values, rows, label, message):
    at = fill(page, rows=rows, **({"name": "broker-x", "url": "mqtt://127.0.0.1:1"} | values))
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and message in errors[0], errors
    assert error_after(at, label) == errors[0]
    if "url" in values:
        assert f"(got {values['url']!r})" in errors[0]
    assert set(endpoints(db)) == {"ep-alpha", "ep-beta"}
    assert "inlet_temp" not in page_text(at)


def test_an_unreachable_broker_is_not_saved(page, db):
    at = fill(page, rows=[TAG], name="gone", url=f"mqtt://127.0.0.1:{free_port()}")
    assert "Connection refused" in error_after(at, "Broker URL")
    assert "gone" not in endpoints(db)


def test_an_mqtt_endpoint_is_listed_with_its_topics_and_not_offered_for_browsing(monkeypatch, tmp_path, db):
    engine = make_engine(db)
    with session_factory(engine).begin() as s:
        alpha = company_by_slug(s, "alpha")
        site = s.execute(select(Site).where(Site.company_id == alpha.id)).scalar_one()
        config = endpoint_config(
            {
                "kind": "mqtt",
                "name": "broker-1",
                "endpoint_url": "mqtt://127.0.0.1:1883",
                "nodes": [
                    {"tag": "inlet_temp", "asset": "pump-a1", "topic": "alpha/p1/json", "json_path": "t"},
                    {"tag": "force", "asset": "fan-a2", "group": "plant", "edge_node": "gw1", "metric": "Force"},
                ],
            },
            "test",
        )
        assets = {a.slug: a for a in list_assets(s, company_id=alpha.id)}
        store_endpoint(s, company_id=alpha.id, site_id=site.id, config=config, assets=assets)
    engine.dispose()
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    at = open_page(logged_in(monkeypatch, db, "eve", "engineer", "alpha", timeout=60), "endpoints")
    listed = at.dataframe[0].value.set_index("name")["kind"]
    assert (listed["broker-1"], listed["ep-alpha"]) == ("MQTT + Sparkplug B", "OPC UA")  # topics and metrics
    topics = next(d.value for d in at.dataframe if "topic" in d.value.columns)
    assert topics.set_index("tag")["topic"].to_dict() == {
        "inlet_temp": "alpha/p1/json",
        "force": "spBv1.0/plant/NDATA/gw1",
    }
    assert topics.set_index("tag").loc["inlet_temp", "JSON path"] == "t"
    assert topics.set_index("tag").loc["force", "Sparkplug B metric"] == "Force"
    browsable = at.selectbox(key="map_endpoint").options
    assert browsable == ["ep-alpha"]  # its OPC UA endpoint only: the broker is not browsed here


def store_broker(db: str, url: str, nodes: list[dict], **settings) -> int:
    """An MQTT endpoint of company alpha stored as the plant file stores it; its id."""
    engine = make_engine(db)
    with session_factory(engine).begin() as s:
        alpha = company_by_slug(s, "alpha")
        site = s.execute(select(Site).where(Site.company_id == alpha.id)).scalar_one()
        values = {"kind": "mqtt", "name": "broker-1", "endpoint_url": url, "nodes": nodes} | settings
        assets = {a.slug: a for a in list_assets(s, company_id=alpha.id)}
        ep = store_endpoint(s, company_id=alpha.id, site_id=site.id, config=endpoint_config(values, "t"), assets=assets)
        ep_id = ep.id
    engine.dispose()
    return ep_id


@pytest.fixture(scope="module")
def login_broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("mosquitto-login"), users={"pdm": "broker-secret"}).start()
    yield b
    b.stop()


def test_a_broker_password_is_replaced_once_the_broker_takes_it(monkeypatch, tmp_path, db, login_broker):
    monkeypatch.delenv(crypto.KEY_ENV, raising=False)
    ep_id = store_broker(db, login_broker.url, [TAG], username="pdm", password_env="MQTT_PW")
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    at = open_page(logged_in(monkeypatch, db, "eve", "engineer", "alpha", timeout=60), "endpoints")
    assert "password read from $MQTT_PW" in page_text(at)
    button = f"FormSubmitter:pw_form_{ep_id}-Set password"

    at.text_input(key=f"pw_{ep_id}").input("not-the-password")
    at.button(key=button).click().run()
    (refused,) = [e.value for e in at.error]  # in the endpoint's password form, under its field
    assert f"{login_broker.url}: broker refused the login" in refused and "(user 'pdm')" in refused, refused
    assert endpoints(db)["broker-1"].settings["password_env"] == "MQTT_PW"  # nothing stored

    at.text_input(key=f"pw_{ep_id}").input("broker-secret")
    at.button(key=button).click().run()
    assert not at.exception and "Password replaced" in at.success[0].value, [e.value for e in at.error]
    settings = endpoints(db)["broker-1"].settings
    assert settings["password_env"] is None and settings["client_id"] is None  # the check's own id is not kept
    assert crypto.decrypt(settings["password_encrypted"], var_dir=tmp_path / "var", where="t") == "broker-secret"
    assert "broker-secret" not in page_text(at) and "password is set (stored encrypted)" in page_text(at)
    engine = make_engine(db)
    with session_factory(engine)() as s:
        events = [(e.action, e.target) for e in s.execute(select(AuditEvent)).scalars()]
    engine.dispose()
    assert ("endpoint_password_set", "broker-1") in events


ADD_TAGS = "FormSubmitter:add_mqtt_tags-Check and add the tags"


def test_tags_are_added_to_a_stored_broker_and_its_tags_and_readings_are_kept(monkeypatch, tmp_path, db):
    ep_id = store_broker(db, "mqtt://127.0.0.1:1883", [TAG])
    engine = make_engine(db)
    with session_factory(engine).begin() as s:
        kept = s.execute(select(Tag).where(Tag.endpoint_id == ep_id)).scalar_one()
        kept_id = kept.id
        s.add(Reading(tag_id=kept_id, ts=1.0, value=20.5, quality=0, received_at=1.0))
    engine.dispose()
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    at = open_page(logged_in(monkeypatch, db, "eve", "engineer", "alpha", timeout=60), "endpoints")

    row = {"tag": "outlet_flow", "asset": "fan-a2", "topic": "alpha/+/flow"}
    for field, value in row.items():
        if field == "asset":
            at.selectbox(key="mt_asset_0").set_value(value)
        else:
            at.text_input(key=f"mt_{field}_0").input(value)
    at.button(key=ADD_TAGS).click().run()
    (refused,) = [e.value for e in at.error]
    assert "takes no wildcard" in refused and "(got 'alpha/+/flow')" in refused
    assert error_after(at, "Topic") == refused
    assert tags_of(db, ep_id) == {"inlet_temp": ("mqtt:alpha/p1/temp", "")}

    at.text_input(key="mt_topic_0").input("alpha/f2/json")
    at.text_input(key="mt_json_path_0").input("data.flow")
    at.button(key=ADD_TAGS).click().run()
    assert not at.error and "Added 1 tags to broker-1" in at.success[0].value, [e.value for e in at.error]
    at.radio(key="mt_kind").set_value("sparkplug").run()
    sparkplug = {"tag": "force", "group": "plant", "edge_node": "gw1", "metric": "Force"}
    for field, value in sparkplug.items():
        at.text_input(key=f"mt_{field}_0").input(value)
    at.button(key=ADD_TAGS).click().run()
    assert not at.error and "Added 1 tags to broker-1" in at.success[0].value, [e.value for e in at.error]

    assert tags_of(db, ep_id) == {
        "inlet_temp": ("mqtt:alpha/p1/temp", ""),
        "outlet_flow": ("mqtt:alpha/f2/json#data.flow", ""),
        "force": ("spb:plant/gw1//Force", ""),
    }
    engine = make_engine(db)
    with session_factory(engine)() as s:
        assert s.execute(select(Tag.id).where(Tag.name == "inlet_temp", Tag.endpoint_id == ep_id)).scalar() == kept_id
        assert [(r.ts, r.value) for r in s.execute(select(Reading).where(Reading.tag_id == kept_id)).scalars()] == [
            (1.0, 20.5)
        ]
        events = [(e.action, e.target) for e in s.execute(select(AuditEvent)).scalars()]
    engine.dispose()
    assert ("tag_mapped", "fan-a2/outlet_flow") in events and ("tag_mapped", "fan-a2/force") in events
    assert at.dataframe[0].value.set_index("name")["kind"]["broker-1"] == "MQTT + Sparkplug B"
