"""Fleet models: normalisation, normal-data selection, the cross-company rule, model choice in scoring.

Readings come from the simulator's physics (the same models the OPC UA plant serves), written
straight into a real SQLite file or PostgreSQL schema.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect, select

from pdm.alerts.simulate import simulate_openings
from pdm.config import DetectionConfig, FleetConfig, parse_plants
from pdm.errors import ConfigError, ModelError
from pdm.models import fleet
from pdm.models.fleet import (
    FLEET_COMPANY,
    alert_windows,
    drop_windows,
    held_out_scores,
    normal_frame,
    train_fleet,
    train_fleets,
)
from pdm.models.fleet_scoring import fleet_model_for, version_label
from pdm.models.lifecycle import train_asset
from pdm.models.normalise import ClassNominal, baseline_normaliser, member_normaliser, robust_location_scale
from pdm.models.persistence import load
from pdm.models.scoring import score_asset
from pdm.simulator.physics import AssetModel, asset_seed, fault_severity
from pdm.storage.catalog import all_assets, apply_plants, company_by_slug, list_tags
from pdm.storage.readings import insert_readings
from pdm.storage.tables import Alert, Asset, FleetModel, ModelVersion, Reading, Score
from tests.helpers.plants import plant_dict

T0 = 1_700_000_040.0  # on the 60 s grid, so rows sit at T0 + whole minutes
STEP_S = 60.0
DETECTION = DetectionConfig(
    resample_s=60, train_min_rows=60, train_min_span_min=60, train_max_rows=400, fleet=FleetConfig(baseline_min=30)
)
PUMP = "centrifugal_pump"
TAGS = ["bearing_temp", "discharge_pressure", "flow", "motor_current", "motor_temp", "suction_pressure", "vibration"]


# -- normalisation (pure) --------------------------------------------------------------------
def _nominal(members=20):
    return ClassNominal(
        location={"a": 10.0, "b": 100.0}, spread={"a": 1.0, "b": 5.0}, scale={"a": 0.5, "b": 2.0}, members=members
    )


def test_baseline_normaliser_takes_own_location_and_class_scale():
    baseline = pd.DataFrame({"a": [10.4, 10.6, 10.5, 10.5], "b": [103.0, 99.0, 101.0, 102.0]})
    norm = baseline_normaliser(baseline, _nominal(), coverage=0.999)
    assert norm.location == {"a": 10.5, "b": 101.5}
    assert norm.scale == {"a": 0.5, "b": 2.0}  # the class's, not the 4 rows' own
    assert norm.untrusted == []
    out = norm.apply(pd.DataFrame({"b": [105.5], "a": [11.5], "extra": [0.0]}))
    assert list(out.columns) == ["a", "b"] and out.iloc[0].tolist() == [2.0, 2.0]
    assert norm.invert(np.array([2.0, 2.0]), ["a", "b"]).tolist() == [11.5, 105.5]


def test_baseline_far_from_the_class_is_not_trusted_and_the_class_nominal_is_used():
    # "a" sits 6 spreads above the class (a machine faulty from its first minute): not learned.
    baseline = pd.DataFrame({"a": [16.0, 16.0, 16.0], "b": [104.0, 104.0, 104.0]})
    norm = baseline_normaliser(baseline, _nominal(), coverage=0.999)
    assert norm.location == {"a": 10.0, "b": 104.0}
    assert norm.untrusted == ["a"]
    assert norm.apply(baseline)["a"].tolist() == [12.0, 12.0, 12.0]  # the offset stays visible
    # Three members say little about a fourth: the same baseline is within their interval.
    assert baseline_normaliser(baseline, _nominal(members=3), coverage=0.999).untrusted == []
    assert _nominal(members=20).guard_width("a", 0.999) == pytest.approx(3.883 * 1.0247, rel=1e-3)


def test_baseline_missing_a_class_tag_or_empty_is_refused():
    with pytest.raises(KeyError):
        baseline_normaliser(pd.DataFrame({"a": [1.0]}), _nominal(), coverage=0.999)
    with pytest.raises(ValueError, match="empty baseline"):
        baseline_normaliser(pd.DataFrame(), _nominal(), coverage=0.999)


def test_class_nominal_is_means_over_members_and_its_spread_never_below_the_class_scale():
    locs = [pd.Series({"a": 1.0, "b": 0.0}), pd.Series({"a": 2.0, "b": 0.0}), pd.Series({"a": 30.0, "b": 0.0})]
    scales = [pd.Series({"a": 0.1, "b": 1.0}), pd.Series({"a": 0.3, "b": 3.0}), pd.Series({"a": 0.2, "b": 2.0})]
    nominal = ClassNominal.from_members(locs, scales)
    assert nominal.location == {"a": 11.0, "b": 0.0}
    assert nominal.scale == pytest.approx({"a": 0.2, "b": 2.0})
    assert nominal.spread["a"] == pytest.approx(np.std([1.0, 2.0, 30.0], ddof=1))
    assert nominal.members == 3 and ClassNominal.from_json(nominal.to_json()) == nominal
    assert nominal.spread["b"] == 2.0  # identical locations: the class scale
    member = member_normaliser(pd.DataFrame({"a": [5.0, 7.0, 6.0], "b": [1.0, 1.0, 1.0]}), nominal)
    assert member.location == {"a": 6.0, "b": 1.0} and member.scale == nominal.scale


def test_fleet_settings_are_validated_with_the_field_named():
    with pytest.raises(ConfigError, match=r"detection\.fleet\.detector.*mset"):
        parse_plants({**plant_dict({"a": [("P", PUMP)]}), "detection": {"fleet": {"detector": "mset"}}}, "p.yaml")
    with pytest.raises(ConfigError, match=r"detection\.fleet\.min_companies.*1"):
        parse_plants({**plant_dict({"a": [("P", PUMP)]}), "detection": {"fleet": {"min_companies": 1}}}, "p.yaml")


def test_alert_windows_drop_rows_of_real_and_open_alerts_only():
    frame = pd.DataFrame({"x": range(10)}, index=pd.Index(np.arange(10.0), name="ts"))
    kept = drop_windows(frame, [(2.0, 3.0), (8.0, float("inf"))])
    assert kept.index.tolist() == [0.0, 1.0, 4.0, 5.0, 6.0, 7.0]


# -- on a database -----------------------------------------------------------------------------
def _plant(companies):
    return parse_plants(plant_dict(companies))


def _feed(session, company: str, asset: str, *, minutes: int, start_min: int = 0, fault=None, seed: int = 7):
    """Simulated readings of one asset, one a minute, from ``T0 + start_min``; ``fault`` is
    (kind, start_min, end_min, ramp_min) in minutes of this asset's own life."""
    c = company_by_slug(session, company)
    a = session.execute(select(Asset).where(Asset.company_id == c.id, Asset.slug == asset)).scalar_one()
    tags = {t.name: t.id for t in list_tags(session, company_id=c.id, asset_id=a.id)}
    model, rows = AssetModel(a.asset_class, asset_seed(seed, company, asset)), []
    for m in range(minutes):
        faults = {fault[0]: fault_severity(m, *fault[1:])} if fault else {}
        values = model.step(m * STEP_S, STEP_S, faults)
        ts = T0 + (start_min + m) * STEP_S
        rows += [{"tag_id": tags[n], "ts": ts, "value": v, "quality": 0, "received_at": ts} for n, v in values.items()]
    insert_readings(session, rows)
    return a


def _members(session, plan):
    """Feed and train each (company, asset) of ``plan`` for 120 minutes: they become members."""
    out = []
    for company, asset in plan:
        a = _feed(session, company, asset, minutes=120)
        assert train_asset(session, company_id=a.company_id, asset_id=a.id, detection=DETECTION) is not None
        out.append(a)
    return out


FLEET_PLANT = {"acme": [("P-1", PUMP), ("P-2", PUMP)], "beta": [("P-3", PUMP)], "gamma": [("N-1", PUMP), ("N-2", PUMP)]}


def test_no_fleet_model_from_one_company_however_many_assets(sessions):
    with sessions.begin() as s:
        apply_plants(s, _plant({"acme": [("P-1", PUMP), ("P-2", PUMP), ("P-3", PUMP)], "beta": [("P-4", PUMP)]}))
        _members(s, [("acme", "P-1"), ("acme", "P-2"), ("acme", "P-3")])
        assert train_fleet(s, asset_class=PUMP, detection=DETECTION) is None
        _members(s, [("beta", "P-4")])
        model = train_fleet(s, asset_class=PUMP, detection=DETECTION)
        assert model is not None and model.metrics["companies"] == 2 and model.metrics["assets"] == 4


def test_normal_data_leaves_out_open_and_resolved_alert_windows_but_keeps_false_alarms(sessions):
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        p1, p2, p3 = _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        full = train_fleet(s, asset_class=PUMP, detection=DETECTION).metrics["rows"]
        window = dict(
            company_id=p1.company_id,
            asset_id=p1.id,
            severity="low",
            last_seen_at=T0 + 1800,
            peak_score=2.0,
            threshold=1.0,
            sensors=[],
        )
        s.add(Alert(**window, status="RESOLVED", opened_at=T0 + 600, closed_at=T0 + 1200))  # 11 rows
        s.add(Alert(**window, status="FALSE_ALARM", opened_at=T0 + 1800, closed_at=T0 + 2400))  # kept
        s.add(
            Alert(
                **{**window, "asset_id": p3.id, "company_id": p3.company_id},
                status="OPEN",
                opened_at=T0 + 119 * 60 - 9 * 60,
            )
        )  # until now: the last 10 rows
        s.flush()
        assert alert_windows(s, company_id=p1.company_id, asset_id=p1.id) == [(T0 + 600, T0 + 1200)]
        retrained = train_fleet(s, asset_class=PUMP, detection=DETECTION)
        assert retrained.version == 2 and retrained.metrics["rows"] == full - 11 - 10


def test_fleet_model_holds_no_reading_and_names_no_company(sessions):
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        members = _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        model = train_fleet(s, asset_class=PUMP, detection=DETECTION)
        raw = {v for (v,) in s.execute(select(Reading.value))}
        member_stats = [
            robust_location_scale(
                normal_frame(
                    s,
                    a,
                    s.execute(select(ModelVersion).where(ModelVersion.asset_id == a.id)).scalar_one(),
                    freq_s=60,
                    smooth_rows=DETECTION.smooth_rows,
                )
            )
            for a in members
        ]
        detector, meta = load(model.envelope, company=FLEET_COMPANY, asset=f"fleet:{PUMP}", feature_names=TAGS)
        with pytest.raises(ModelError, match="company mismatch"):  # not loadable as a company's own model
            load(model.envelope, company="acme", asset=f"fleet:{PUMP}")
    assert "company_id" not in {c["name"] for c in inspect(s.get_bind()).get_columns("fleet_models")}
    assert meta["company"] == "cluster" and model.metrics["companies"] == 2
    arrays = [
        np.asarray(v, dtype=float) for v in vars(detector).values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"
    ]
    assert arrays and not any(raw & set(a.ravel().tolist()) for a in arrays)
    # No learned array is as long as the training data: the model keeps aggregates, not rows.
    assert all(a.ndim == 0 or max(a.shape) < model.metrics["rows"] for a in arrays)
    nominal_values = {v for part in ("location", "spread", "scale") for v in model.nominal[part].values()}
    assert all(set(model.nominal[part]) == set(TAGS) for part in ("location", "spread", "scale"))
    assert not raw & nominal_values
    # Nor any single member's own location or scale: the nominal values mix members.
    own = {float(v) for loc_scale in member_stats for series in loc_scale for v in series}
    assert not own & nominal_values


def test_new_asset_is_scored_by_the_fleet_until_its_own_model_is_trained(sessions):
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        assert len(train_fleets(s, detection=DETECTION)) == 1
        n1 = _feed(s, "gamma", "N-1", minutes=20, start_min=200)
        # Not before its baseline window (30 min) is complete.
        assert fleet_model_for(s, company_id=n1.company_id, asset_id=n1.id, detection=DETECTION) is None
        assert score_asset(s, company_id=n1.company_id, asset_id=n1.id, detection=DETECTION) is None
        _feed(s, "gamma", "N-1", minutes=40, start_min=200)  # the same first 20 again (ignored) + 20 more
        score_asset(s, company_id=n1.company_id, asset_id=n1.id, detection=DETECTION)
        binding = s.execute(select(ModelVersion).where(ModelVersion.asset_id == n1.id)).scalar_one()
        scores = s.execute(select(Score).where(Score.asset_id == n1.id).order_by(Score.ts)).scalars().all()
        assert binding.company_id == n1.company_id and not binding.active and binding.envelope == b""
        assert set(binding.metrics["normaliser"]) == {"location", "scale", "untrusted"}
        assert version_label(s, company_id=n1.company_id, version_id=binding.id) == f"fleet:{PUMP} v1"
        assert len(scores) == 40 and scores[0].ts == T0 + 200 * 60  # its first rows are scored too
        assert {sc.model_version_id for sc in scores} == {binding.id}

        _feed(s, "gamma", "N-1", minutes=90, start_min=200)
        own = train_asset(s, company_id=n1.company_id, asset_id=n1.id, detection=DETECTION)
        assert own.version == 2 and own.active
        score_asset(s, company_id=n1.company_id, asset_id=n1.id, detection=DETECTION)
        later = (
            s.execute(select(Score.model_version_id).where(Score.asset_id == n1.id, Score.ts > T0 + 239 * 60))
            .scalars()
            .all()
        )
        assert later and set(later) == {own.id}
        assert version_label(s, company_id=n1.company_id, version_id=own.id) == "pca v2"


def test_asset_missing_a_fleet_tag_is_left_unscored(sessions):
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        train_fleets(s, detection=DETECTION)
        n2 = _feed(s, "gamma", "N-2", minutes=40)
        vibration = [t.id for t in list_tags(s, company_id=n2.company_id, asset_id=n2.id) if t.name == "vibration"]
        s.execute(Reading.__table__.delete().where(Reading.tag_id == vibration[0]))
        assert score_asset(s, company_id=n2.company_id, asset_id=n2.id, detection=DETECTION) is None
        assert not s.execute(select(ModelVersion).where(ModelVersion.asset_id == n2.id)).all()


def test_unchanged_members_keep_the_fleet_version_and_a_retrained_member_makes_a_new_one(sessions, monkeypatch):
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        p1, _, _ = _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        first = train_fleet(s, asset_class=PUMP, detection=DETECTION)
        assert train_fleet(s, asset_class=PUMP, detection=DETECTION).id == first.id
        train_asset(s, company_id=p1.company_id, asset_id=p1.id, detection=DETECTION)
        second = train_fleet(s, asset_class=PUMP, detection=DETECTION)
        assert second.version == 2 and second.active and not first.active
        assert s.execute(select(FleetModel.version).where(FleetModel.active.is_(True))).scalars().all() == [2]
        # After a library upgrade the stored model may not load any more: retrained, members unchanged.
        monkeypatch.setattr(fleet, "library_versions", lambda: {"scikit-learn": "99.0"})
        assert train_fleet(s, asset_class=PUMP, detection=DETECTION).version == 3


def test_a_disabled_fleet_trains_and_scores_nothing(sessions):
    off = DETECTION.model_copy(update={"fleet": FleetConfig(enabled=False)})
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        assert train_fleets(s, detection=off) == []
        train_fleets(s, detection=DETECTION)
        n1 = _feed(s, "gamma", "N-1", minutes=40)
        assert fleet_model_for(s, company_id=n1.company_id, asset_id=n1.id, detection=off) is None
        assert all_assets(s)


def test_fleet_threshold_holds_for_members_it_has_not_seen(sessions):
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        members = _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        model = train_fleet(s, asset_class=PUMP, detection=DETECTION)
        frames = [
            normal_frame(
                s,
                a,
                s.execute(select(ModelVersion).where(ModelVersion.asset_id == a.id)).scalar_one(),
                freq_s=60,
                smooth_rows=DETECTION.smooth_rows,
            )[TAGS]
            for a in members
        ]
    segments = held_out_scores(frames, detection=DETECTION)
    assert sum(len(v) for _, v in segments) == model.metrics["rows"]
    # Each member scored by a model of the others opens, at the fleet threshold, no more alerts than
    # the budget allows over the data time they cover.
    opened = sum(
        len(
            simulate_openings(
                t,
                v,
                model.threshold,
                debounce_rows=DETECTION.debounce_rows,
                silent_period_min=DETECTION.silent_period_min,
            )
        )
        for t, v in segments
    )
    calibration = model.metrics["threshold"]
    assert calibration["method"] == "budget" and opened == calibration["observed_alerts"]
    assert opened <= DETECTION.false_alerts_per_month * calibration["span_h"] / (30 * 24)
    assert model.metrics["train_alarm_rate"] == 0.0


def test_a_retrained_fleet_model_gets_a_new_binding_and_scoring_carries_on(sessions):
    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        p1, _, _ = _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        train_fleets(s, detection=DETECTION)
        n1 = _feed(s, "gamma", "N-1", minutes=40)
        score_asset(s, company_id=n1.company_id, asset_id=n1.id, detection=DETECTION)
        train_asset(s, company_id=p1.company_id, asset_id=p1.id, detection=DETECTION)
        assert train_fleet(s, asset_class=PUMP, detection=DETECTION).version == 2
        _feed(s, "gamma", "N-1", minutes=50)
        score_asset(s, company_id=n1.company_id, asset_id=n1.id, detection=DETECTION)
        bindings = (
            s.execute(select(ModelVersion).where(ModelVersion.asset_id == n1.id).order_by(ModelVersion.version))
            .scalars()
            .all()
        )
        assert [b.metrics["fleet_version"] for b in bindings] == [1, 2]
        used = s.execute(
            select(Score.model_version_id, Score.ts).where(Score.asset_id == n1.id).order_by(Score.ts)
        ).all()
        assert len(used) == 50 and [v for v, _ in used] == [bindings[0].id] * 40 + [bindings[1].id] * 10
        # Same first 30 minutes, same own location: only the class part may differ.
        assert (
            bindings[0].metrics["normaliser"]["location"].keys() == bindings[1].metrics["normaliser"]["location"].keys()
        )


def test_a_fleet_model_that_cannot_be_loaded_is_skipped_with_a_warning_and_nothing_stored(sessions, caplog):
    from sqlalchemy import update

    with sessions.begin() as s:
        apply_plants(s, _plant(FLEET_PLANT))
        _members(s, [("acme", "P-1"), ("acme", "P-2"), ("beta", "P-3")])
        train_fleets(s, detection=DETECTION)
        s.execute(update(FleetModel).values(envelope=pickle.dumps({"format": "pdm-model/0"})))
        n1 = _feed(s, "gamma", "N-1", minutes=40)
        assert score_asset(s, company_id=n1.company_id, asset_id=n1.id, detection=DETECTION) is None
        assert not s.execute(select(Score).where(Score.asset_id == n1.id)).all()
    assert f"fleet model {PUMP} v1 cannot be used for asset N-1: model format mismatch" in caplog.text
