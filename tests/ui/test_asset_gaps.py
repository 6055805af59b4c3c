"""The asset page shades the stretches recorded as gaps on each sensor's chart and says what they are."""

from __future__ import annotations

import json

import pytest

from pdm.storage.catalog import company_by_slug, list_endpoints, list_tags
from pdm.storage.gaps import record_gaps
from pdm.storage.session import make_engine, session_factory
from tests.helpers.app import STEP, T0, app_db, open_page, page_text
from tests.helpers.login import logged_in


@pytest.fixture(scope="module")
def gaps_db(tmp_path_factory) -> str:
    url = app_db(tmp_path_factory.mktemp("ui-gaps") / "pdm.sqlite3")
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        alpha, beta = company_by_slug(s, "alpha"), company_by_slug(s, "beta")
        tags = {t.name: t for t in list_tags(s, company_id=alpha.id)}
        (ep,) = list_endpoints(s, company_id=alpha.id)
        (beta_ep,) = list_endpoints(s, company_id=beta.id)
        (beta_tag,) = list_tags(s, company_id=beta.id)
        record_gaps(
            s,
            [
                {
                    "endpoint_id": ep.id,
                    "tag_id": tags["vibration"].id,
                    "start_ts": T0 + 10 * STEP,
                    "end_ts": T0 + 20 * STEP,
                    "reason": "BadHistoryOperationUnsupported",
                },
                {  # every tag of the endpoint
                    "endpoint_id": ep.id,
                    "tag_id": None,
                    "start_ts": T0 + 30 * STEP,
                    "end_ts": T0 + 31 * STEP,
                    "reason": "server history ends too late",
                },
                {
                    "endpoint_id": beta_ep.id,
                    "tag_id": beta_tag.id,
                    "start_ts": T0,
                    "end_ts": T0 + 5 * STEP,
                    "reason": "beta's own outage",
                },
            ],
        )
    engine.dispose()
    return url


def _marks(chart) -> tuple[str, list[str]]:
    spec = json.loads(chart.proto.spec)
    title = spec["title"]["text"] if isinstance(spec["title"], dict) else spec["title"]
    return title, _flat(spec)


def _flat(spec: dict) -> list[str]:
    """The marks of a (possibly nested) layered chart, bottom first."""
    if "layer" in spec:
        return [mark for layer in spec["layer"] for mark in _flat(layer)]
    return [spec["mark"]["type"] if isinstance(spec["mark"], dict) else spec["mark"]]


def test_gaps_are_shaded_on_the_charts_of_the_tags_they_cover(monkeypatch, gaps_db):
    app = open_page(logged_in(monkeypatch, gaps_db), "assets")
    app.selectbox(key="asset_pick_1").select_index(1).run()  # assets sorted by slug: fan-a2, pump-a1
    app.selectbox(key="asset_range_1").set_value("1 hour").run()
    assert not app.exception, app.exception
    marks = dict(_marks(c) for c in app.get("vega_lite_chart"))
    assert marks == {"vibration": ["rect", "line"], "bearing_temp": ["rect", "line"]}
    text = page_text(app)
    assert (
        "Grey: data never stored (2 gaps, 11.0 min in all, not backfilled after an outage): "
        "BadHistoryOperationUnsupported, server history ends too late." in text
    )
    assert "beta's own outage" not in text


def test_gaps_are_shaded_under_bucketed_charts_too(monkeypatch, gaps_db):
    app = open_page(logged_in(monkeypatch, gaps_db), "assets")
    app.selectbox(key="asset_pick_1").select_index(1).run()  # 24 hours by default: 2-minute buckets
    assert not app.exception, app.exception
    marks = dict(_marks(c) for c in app.get("vega_lite_chart"))
    assert marks == {"vibration": ["rect", "area", "line"], "bearing_temp": ["rect", "area", "line"]}
    assert "Grey: data never stored (2 gaps, 11.0 min in all" in page_text(app)


def test_the_alert_page_shades_gaps_near_the_alert(monkeypatch, tmp_path):
    from sqlalchemy import select

    from pdm.storage.tables import Alert

    url = app_db(tmp_path / "pdm.sqlite3")
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        alpha = company_by_slug(s, "alpha")
        alert = s.execute(select(Alert).where(Alert.company_id == alpha.id)).scalar_one()
        # A tag the alert names: the alert page charts only those.
        named = {sensor["tag"] for sensor in alert.sensors}
        tag = next(t for t in list_tags(s, company_id=alpha.id) if t.asset_id == alert.asset_id and t.name in named)
        (ep,) = list_endpoints(s, company_id=alpha.id)
        record_gaps(
            s,
            [
                {
                    "endpoint_id": ep.id,
                    "tag_id": tag.id,
                    "start_ts": alert.opened_at - 10 * STEP,
                    "end_ts": alert.opened_at - 5 * STEP,
                    "reason": "no history on the server",
                }
            ],
        )
        company_id, alert_id, tag_name = alpha.id, alert.id, tag.name
    engine.dispose()
    app = open_page(logged_in(monkeypatch, url), "alerts")
    app.selectbox(key=f"alert_pick_{company_id}").set_value(alert_id).run()
    assert not app.exception, app.exception
    # Telemetry charts carry their tag as title (the score chart has none).
    charts = [c for c in app.get("vega_lite_chart") if "title" in json.loads(c.proto.spec)]
    marks = dict(_marks(c) for c in charts)
    assert marks[tag_name][0] == "rect"  # the gap, under the line
    assert "Grey: data never stored (1 gap, " in page_text(app) and "no history on the server" in page_text(app)
