"""Engineer page: adding MQTT and Sparkplug B endpoints through AppTest (validate, log in to the broker, save
with the tags), refusals under their field, and the endpoints list of a mixed company."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from pdm.config import endpoint_config
from pdm.storage.catalog import company_by_slug, list_assets, store_endpoint
from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Site, Tag
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


def test_a_sparkplug_endpoint_is_saved_with_its_metrics(page, db, broker):
    row = {"tag": "force", "asset": "pump-a1", "group": "plant", "edge_node": "gw1", "device": "press"}
    at = fill(page, "sparkplug", rows=[row | {"metric": "Press/Force"}], name="spb-1", url=broker.url)
    assert "Saved spb-1" in at.success[0].value
    saved = endpoints(db)["spb-1"]
    assert saved.kind == "mqtt"
    assert tags_of(db, saved.id) == {"force": ("spb:plant/gw1/press/Press/Force", "")}


TAG = {"tag": "inlet_temp", "asset": "pump-a1", "topic": "alpha/p1/temp"}


@pytest.mark.parametrize(
    ("values", "rows", "label", "message"),
    [
        ({"url": "http://broker:1883"}, [TAG], "Broker URL", "expected mqtt://host[:port]"),
        ({}, [{"tag": "inlet_temp", "asset": "pump-a1", "unit": "degC"}], "Topic", "(got '')"),
        ({}, [TAG | {"topic": "alpha/+/temp"}], "Topic", "takes no wildcard"),
        ({"qos": 3}, [TAG], "QoS", "less than or equal to 2 (got 3)"),
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
    assert (listed["broker-1"], listed["ep-alpha"]) == ("MQTT", "OPC UA")
    topics = next(d.value for d in at.dataframe if "topic" in d.value.columns)
    assert topics.set_index("tag")["topic"].to_dict() == {
        "inlet_temp": "alpha/p1/json",
        "force": "spBv1.0/plant/NDATA/gw1",
    }
    assert topics.set_index("tag").loc["inlet_temp", "JSON path"] == "t"
    assert topics.set_index("tag").loc["force", "Sparkplug B metric"] == "Force"
    browsable = at.selectbox(key="map_endpoint").options
    assert browsable == ["ep-alpha"]  # its OPC UA endpoint only: the broker is not browsed here
