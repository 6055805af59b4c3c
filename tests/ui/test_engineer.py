"""Engineer page onboarding through AppTest: add (validate, connect, test read, save), browse, map, enable.

OPC UA servers run on their own event loop in a thread, since AppTest drives the page synchronously.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from pdm.storage.session import make_engine, session_factory
from pdm.storage.tables import Endpoint, Tag
from tests.helpers.app import app_db, open_page
from tests.helpers.engineer import endpoints, error_after, submit
from tests.helpers.login import logged_in
from tests.helpers.servers import InThread, OpcUaTestServer, SecureServer, free_port


@pytest.fixture
def server():
    with InThread(OpcUaTestServer(n=12, per_object=4)) as srv:
        yield srv


@pytest.fixture
def db(tmp_path) -> str:
    return app_db(tmp_path / "pdm.sqlite3")


@pytest.fixture
def page(monkeypatch, db, tmp_path) -> AppTest:
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    return open_page(logged_in(monkeypatch, db, "eve", "engineer", "alpha", timeout=60), "endpoints")


def test_add_endpoint_connects_reads_and_saves(page, server, db):
    at = submit(page, name="line-2", url=server.url)
    assert "Saved line-2" in at.success[0].value and "test read OK" in at.success[0].value
    saved = endpoints(db)["line-2"]
    assert saved.endpoint_url == server.url and saved.settings["security_policy"] == "None"
    assert "line-2" in at.dataframe[0].value["name"].tolist()  # listed at once with its health columns
    assert {"readings/s", "errors 1h", "spool rows"} <= set(at.dataframe[0].value.columns)


@pytest.mark.parametrize(
    ("values", "label", "message"),
    [
        ({"name": "ep-alpha", "url": "opc.tcp://127.0.0.1:1/dup-name"}, "Name", "already has an endpoint named"),
        (
            {"name": "other", "url": "opc.tcp://127.0.0.1:4840/alpha"},
            "Endpoint URL",
            "already has an endpoint at this URL",
        ),
        ({"name": "bad url", "url": "opc.tcp://h:4840"}, "Name", "String should match pattern"),
        ({"name": "x", "url": "http://plc:4840"}, "Endpoint URL", "expected opc.tcp://host[:port][/path]"),
        ({"name": "x", "url": "opc.tcp://h:4840", "policy": "Basic256Sha256"}, "Security mode", "needs security_mode"),
        (
            {"name": "x", "url": "opc.tcp://h:4840", "auth": "username"},
            "User name",
            "required when auth_method is username",
        ),
        (
            {"name": "x", "url": "opc.tcp://h:4840", "auth": "username", "username": "op"},
            "Password environment variable",
            "name of the environment variable",
        ),
    ],
)
def test_form_errors_are_shown_next_to_their_field(page, db, values, label, message):
    at = submit(page, **values)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and message in errors[0]
    assert error_after(at, label) == errors[0]
    assert set(endpoints(db)) == {"ep-alpha", "ep-beta"}  # nothing saved


def test_unreachable_server_is_not_saved(page, db):
    at = submit(page, name="gone", url=f"opc.tcp://127.0.0.1:{free_port()}/none")
    assert "unreachable" in error_after(at, "Endpoint URL")
    assert "gone" not in endpoints(db)


def test_untrusted_server_certificate_says_how_to_trust(page, db, tmp_path):
    with InThread(SecureServer(tmp_path / "server")) as srv:
        at = submit(page, name="secure", url=srv.url, policy="Basic256Sha256", mode="SignAndEncrypt")
        message = error_after(at, "Trust the server certificate without checking it")
        assert "not trusted" in message and "pdmctl certs trust" in message
        assert "secure" not in endpoints(db)
        at = submit(at, trust=True)
        assert "Saved secure" in at.success[0].value


def test_browse_then_map_a_node_to_an_asset_tag(page, server, db):
    at = submit(page, name="line-2", url=server.url)
    ep_id = endpoints(db)["line-2"].id
    at.selectbox(key="map_endpoint").set_value(ep_id).run()
    at.button(key="browse_btn").click().run()
    assert not at.exception, at.exception
    tree = at.dataframe[-1].value
    assert "nsu=urn:pdm:test;s=v3" in tree["node id"].tolist()
    at.selectbox(key="map_node").set_value("nsu=urn:pdm:test;s=v3")
    at.selectbox(key="map_asset").set_value("pump-a1")
    at.text_input(key="map_tag").input("inlet_pressure")
    at.text_input(key="map_unit").input("bar")
    at.button(key="FormSubmitter:map_form-Map").click().run()
    assert "Mapped nsu=urn:pdm:test;s=v3 to pump-a1/inlet_pressure" in at.success[0].value
    engine = make_engine(db)
    with session_factory(engine)() as s:
        tag = s.execute(select(Tag).where(Tag.name == "inlet_pressure")).scalar_one()
    engine.dispose()
    assert (tag.node_id, tag.unit, tag.endpoint_id) == ("nsu=urn:pdm:test;s=v3", "bar", ep_id)
    at.text_input(key="map_tag").input("vibration")  # pump-a1 already has it
    at.button(key="FormSubmitter:map_form-Map").click().run()
    assert "already has a tag 'vibration'" in error_after(at, "Tag")


def test_polling_can_be_disabled_and_enabled(page, db):
    ep_id = endpoints(db)["ep-alpha"].id
    page.toggle(key=f"enabled_{ep_id}").set_value(False).run()
    assert endpoints(db)["ep-alpha"].enabled is False
    page.toggle(key=f"enabled_{ep_id}").set_value(True).run()
    assert endpoints(db)["ep-alpha"].enabled is True


def test_another_companys_url_is_not_a_duplicate(page, db):
    # ep-beta's URL belongs to Beta Metals: Alpha may add it; it then fails on connecting, not as a duplicate.
    engine = make_engine(db)
    with session_factory(engine).begin() as s:
        s.execute(
            Endpoint.__table__.update()
            .where(Endpoint.name == "ep-beta")
            .values(endpoint_url="opc.tcp://127.0.0.1:1/beta")
        )
    engine.dispose()
    at = submit(page, name="shared", url="opc.tcp://127.0.0.1:1/beta")
    message = error_after(at, "Endpoint URL")
    assert "unreachable" in message and "already" not in message


def test_health_columns_show_what_the_reading_worker_stored(monkeypatch, tmp_path):
    """Health is read from the database, whichever host the worker runs on."""
    import time

    from pdm.ingest import leases
    from pdm.ingest.health import save_health
    from pdm.storage.tables import Company

    url = app_db(tmp_path / "pdm.sqlite3")
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        company_id = s.execute(select(Company.id).where(Company.slug == "alpha")).scalar_one()
        ep = s.execute(select(Endpoint).where(Endpoint.company_id == company_id)).scalars().first()
        leases.acquire(s, endpoint_id=ep.id, worker_id="hostb-7-abc", ttl=600)
        save_health(
            s,
            [
                {
                    "endpoint_id": ep.id,
                    "company_id": company_id,
                    "worker_id": "hostb-7-abc",
                    "updated_at": time.time(),
                    "readings_per_s": 42.5,
                    "errors_last_hour": 3,
                    "last_error": None,
                    "spool_rows": 11,
                }
            ],
        )
        name = ep.name
    engine.dispose()
    monkeypatch.setenv("PDM_VAR_DIR", str(tmp_path / "var"))
    at = open_page(logged_in(monkeypatch, url, "eve", "engineer", "alpha", timeout=60), "endpoints")
    frame = at.dataframe[0].value.set_index("name")
    assert (
        frame.loc[name, "readings/s"],
        frame.loc[name, "errors 1h"],
        frame.loc[name, "spool rows"],
        frame.loc[name, "worker"],
    ) == (42.5, 3, 11, "hostb-7-abc")
