"""Asset physics: determinism, healthy low-rank structure, and fault signatures."""

from __future__ import annotations

import numpy as np
import pytest

from pdm.simulator.physics import (
    APPLICABLE_FAULTS,
    SENSORS,
    AssetModel,
    asset_seed,
    check_fault,
    fault_severity,
)

DT = 2.0  # simulated seconds between samples
PAIRS = [(cls, kind) for cls in SENSORS for kind in sorted(APPLICABLE_FAULTS[cls])]


def simulate(asset_class, seed, minutes, *, fault=None, start=30.0, ramp=10.0, end=1e9, dt=DT):
    """Rows of readings (sensor order of SENSORS) and the fault severity of each row."""
    model = AssetModel(asset_class, seed)
    rows, sev = [], []
    for i in range(int(minutes * 60 / dt)):
        t = i * dt
        s = fault_severity(t / 60.0, start, end, ramp) if fault else 0.0
        rows.append(list(model.step(t, dt, {fault: s} if fault else {}).values()))
        sev.append(s)
    return np.array(rows), np.array(sev)


class TinyPCA:
    """Standardise, keep the components explaining 95 % of variance, score T² and SPE."""

    def fit(self, x):
        self.mu, self.sd = x.mean(0), x.std(0)
        eigval, eigvec = np.linalg.eigh(np.cov(((x - self.mu) / self.sd).T))
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = eigval[order], eigvec[:, order]
        self.k = int(np.searchsorted(np.cumsum(eigval) / eigval.sum(), 0.95) + 1)
        self.p, self.lam = eigvec[:, : self.k], eigval[: self.k]
        t2, spe = self.score(x)
        self.t2_lim, self.spe_lim = 1.2 * np.quantile(t2, 0.995), 1.2 * np.quantile(spe, 0.995)
        return self

    def score(self, x):
        z = (x - self.mu) / self.sd
        t = z @ self.p
        return (t**2 / self.lam).sum(1), ((z - t @ self.p.T) ** 2).sum(1)

    def over(self, x):
        t2, spe = self.score(x)
        return (t2 > self.t2_lim) | (spe > self.spe_lim)


def longest_run(flags) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def test_sensor_names_and_units_are_fixed():
    assert {cls: list(s) for cls, s in SENSORS.items()} == {
        "centrifugal_pump": [
            "flow",
            "discharge_pressure",
            "suction_pressure",
            "motor_current",
            "vibration",
            "bearing_temp",
            "motor_temp",
        ],
        "air_compressor": [
            "load",
            "discharge_pressure",
            "airflow",
            "motor_current",
            "oil_temp",
            "discharge_temp",
            "vibration",
        ],
        "cnc_spindle": [
            "spindle_speed",
            "spindle_load",
            "motor_current",
            "vibration",
            "spindle_temp",
            "coolant_temp",
            "coolant_flow",
        ],
    }
    assert SENSORS["centrifugal_pump"]["flow"] == "m3/h" and SENSORS["air_compressor"]["airflow"] == "m3/min"
    assert SENSORS["cnc_spindle"]["coolant_flow"] == "l/min" and SENSORS["cnc_spindle"]["spindle_speed"] == "rpm"


@pytest.mark.parametrize("asset_class", list(SENSORS))
def test_same_seed_same_values_other_seed_other_values(asset_class):
    a, _ = simulate(asset_class, 42, 10, fault="bearing_wear", start=2, ramp=3)
    b, _ = simulate(asset_class, 42, 10, fault="bearing_wear", start=2, ramp=3)
    c, _ = simulate(asset_class, 43, 10, fault="bearing_wear", start=2, ramp=3)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_asset_seed_is_a_stable_hash():
    assert asset_seed(7, "cleon-moteurs", "P-101") == 12229869316689397682  # same in every process
    assert asset_seed(7, "cleon-moteurs", "P-102") != asset_seed(7, "cleon-moteurs", "P-101")
    assert asset_seed(8, "cleon-moteurs", "P-101") != asset_seed(7, "cleon-moteurs", "P-101")


def test_fault_severity_ramps_holds_and_is_repaired():
    assert fault_severity(9.9, 10, 40, 10) == 0.0
    assert fault_severity(15, 10, 40, 10) == pytest.approx(0.5)
    assert fault_severity(25, 10, 40, 10) == 1.0
    assert fault_severity(40, 10, 40, 10) == 0.0
    assert fault_severity(10, 10, 40, 0) == 1.0


@pytest.mark.parametrize("asset_class", ["air_compressor", "cnc_spindle"])
def test_fault_kind_that_does_not_apply_is_refused(asset_class):
    with pytest.raises(ValueError, match=f"cavitation.*{asset_class}"):
        check_fault(asset_class, "cavitation")
    with pytest.raises(ValueError, match=f"cavitation.*{asset_class}"):
        AssetModel(asset_class, 1).step(0.0, 1.0, {"cavitation": 0.5})
    with pytest.raises(ValueError, match="unknown asset class"):
        AssetModel("conveyor", 1)


@pytest.mark.parametrize("asset_class", list(SENSORS))
def test_healthy_values_are_physically_plausible(asset_class):
    x, _ = simulate(asset_class, 5, 60, dt=5.0)
    cols = dict(zip(SENSORS[asset_class], x.T))
    assert np.all(x > 0)
    for name, col in cols.items():
        if name.endswith("_temp"):
            assert 15 < col.min() and col.max() < 110, name
    if asset_class == "centrifugal_pump":
        assert np.all(cols["discharge_pressure"] > cols["suction_pressure"] + 2)
        assert np.corrcoef(cols["flow"], cols["motor_current"])[0, 1] > 0.95
    if asset_class == "air_compressor":
        assert np.all(cols["discharge_temp"] > cols["oil_temp"])
        assert 6.5 < cols["discharge_pressure"].mean() < 8.5
    if asset_class == "cnc_spindle":
        assert np.all(cols["spindle_temp"] > cols["coolant_temp"])
        assert cols["spindle_speed"].max() < 13000


@pytest.mark.parametrize("asset_class", list(SENSORS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pca_trained_on_30_healthy_minutes_stays_quiet_for_90_more(asset_class, seed):
    x, _ = simulate(asset_class, seed, 120)
    n_train = int(30 * 60 / DT)
    pca = TinyPCA().fit(x[:n_train])
    over = pca.over(x[n_train:])
    assert pca.k <= 3, "healthy data should be explained by a few components"
    # Isolated noise spikes cross a 99.5 % limit by design; an alarm needs 3 rows in a row.
    assert over.mean() < 0.02
    assert longest_run(over) < 3


@pytest.mark.parametrize(("asset_class", "kind"), PAIRS)
def test_each_fault_breaks_the_healthy_structure(asset_class, kind):
    x, sev = simulate(asset_class, 9, 75, fault=kind, start=30, ramp=10)
    pca = TinyPCA().fit(x[: int(30 * 60 / DT)])
    assert pca.over(x[sev >= 0.5]).mean() > 0.9


# Direction of each fault's effect at full severity, compared row by row with a healthy twin
# (same seed, so same load and noise): "+" higher, "-" lower.
SIGNATURES = {
    ("centrifugal_pump", "bearing_wear"): {"vibration": "+", "bearing_temp": "+", "motor_current": "+"},
    ("centrifugal_pump", "cavitation"): {"suction_pressure": "-", "flow": "-", "vibration": "+"},
    ("centrifugal_pump", "clogging_filter"): {"flow": "-", "motor_current": "-", "discharge_pressure": "+"},
    ("centrifugal_pump", "cooling_failure"): {"motor_temp": "+"},
    ("centrifugal_pump", "imbalance"): {"vibration": "+"},
    ("air_compressor", "bearing_wear"): {"vibration": "+", "oil_temp": "+", "motor_current": "+"},
    ("air_compressor", "clogging_filter"): {"airflow": "-", "discharge_temp": "+", "motor_current": "+"},
    ("air_compressor", "cooling_failure"): {"oil_temp": "+", "discharge_temp": "+"},
    ("air_compressor", "imbalance"): {"vibration": "+"},
    ("cnc_spindle", "bearing_wear"): {"vibration": "+", "spindle_temp": "+", "motor_current": "+"},
    ("cnc_spindle", "clogging_filter"): {"coolant_flow": "-", "spindle_temp": "+"},
    ("cnc_spindle", "cooling_failure"): {"coolant_temp": "+", "spindle_temp": "+"},
    ("cnc_spindle", "imbalance"): {"vibration": "+"},
}


def twin_runs(asset_class, kind, seed=4):
    """Healthy and faulty runs at dt=5 s; rows after the fault is full and temperatures settled."""
    healthy, _ = simulate(asset_class, seed, 60, dt=5.0)
    faulty, _ = simulate(asset_class, seed, 60, fault=kind, start=5, ramp=5, dt=5.0)
    keep = slice(int(30 * 60 / 5.0), None)
    cols = list(SENSORS[asset_class])
    return ({n: healthy[keep, i] for i, n in enumerate(cols)}, {n: faulty[keep, i] for i, n in enumerate(cols)})


def test_signature_table_covers_every_applicable_fault():
    assert set(SIGNATURES) == set(PAIRS)


@pytest.mark.parametrize(("asset_class", "kind"), PAIRS)
def test_fault_signature_directions(asset_class, kind):
    healthy, faulty = twin_runs(asset_class, kind)
    for sensor, sign in SIGNATURES[(asset_class, kind)].items():
        higher = faulty[sensor] > healthy[sensor]
        assert (higher if sign == "+" else ~higher).mean() > 0.9, sensor


@pytest.mark.parametrize("asset_class", list(SENSORS))
def test_bearing_wear_multiplies_vibration_and_heats_the_bearing(asset_class):
    healthy, faulty = twin_runs(asset_class, "bearing_wear")
    assert 2.0 <= faulty["vibration"].mean() / healthy["vibration"].mean() <= 4.0
    temp = {"centrifugal_pump": "bearing_temp", "air_compressor": "oil_temp", "cnc_spindle": "spindle_temp"}
    assert (faulty[temp[asset_class]] - healthy[temp[asset_class]]).mean() > 3.0
    assert 1.0 < faulty["motor_current"].mean() / healthy["motor_current"].mean() < 1.15


@pytest.mark.parametrize("asset_class", list(SENSORS))
def test_imbalance_vibration_grows_with_speed_squared(asset_class):
    healthy, faulty = twin_runs(asset_class, "imbalance")
    speed = {"centrifugal_pump": "flow", "air_compressor": "load", "cnc_spindle": "spindle_speed"}
    s = healthy[speed[asset_class]]  # flow and VSD load are proportional to shaft speed
    extra = faulty["vibration"] - healthy["vibration"]
    assert np.corrcoef(extra, s**2)[0, 1] > 0.8
    fit = np.polyfit(s / s.max(), extra, 2)  # convex: the quadratic term dominates the linear one
    assert fit[0] > 0


def test_cavitation_makes_flow_pressure_and_vibration_erratic():
    healthy, faulty = twin_runs("centrifugal_pump", "cavitation")
    for sensor in ("flow", "discharge_pressure", "vibration"):
        jitter_h, jitter_f = np.diff(healthy[sensor]).std(), np.diff(faulty[sensor]).std()
        assert jitter_f > 3 * jitter_h, sensor


# --- benign events: a real shift in the data that is not a fault -----------------------------------------


@pytest.mark.parametrize("asset_class", list(SENSORS))
def test_process_change_is_accepted_on_every_class_and_really_shifts_the_data(asset_class):
    check_fault(asset_class, "process_change")
    x, sev = simulate(asset_class, 9, 75, fault="process_change", start=30, ramp=2)
    pca = TinyPCA().fit(x[: int(30 * 60 / DT)])
    # The asset leaves the operating range its detector learned: a detector alarms (a false alarm to come).
    assert pca.over(x[sev >= 1.0]).mean() > 0.5
    assert longest_run(pca.over(x[sev >= 1.0])) >= 10


def test_process_change_keeps_the_healthy_physics_where_a_fault_breaks_it():
    """A pump on a pure friction system has head ∝ flow²; a lower load keeps that, a clogged filter does not."""
    cols = list(SENSORS["centrifugal_pump"])
    flow, dp, sp = cols.index("flow"), cols.index("discharge_pressure"), cols.index("suction_pressure")

    def system_curve(kind):
        healthy, _ = simulate("centrifugal_pump", 4, 60, dt=5.0)
        changed, _ = simulate("centrifugal_pump", 4, 60, fault=kind, start=5, ramp=5, dt=5.0)
        keep = slice(int(30 * 60 / 5.0), None)
        k = lambda x: np.median((x[keep, dp] - x[keep, sp]) / x[keep, flow] ** 2)  # noqa: E731
        return healthy[keep, flow].mean(), changed[keep, flow].mean(), k(healthy), k(changed)

    q_healthy, q_changed, k_healthy, k_changed = system_curve("process_change")
    assert q_changed < 0.75 * q_healthy  # a third less throughput...
    assert k_changed == pytest.approx(k_healthy, rel=0.05)  # ...on the same system curve
    _, _, k_healthy, k_clogged = system_curve("clogging_filter")
    assert k_clogged > 1.5 * k_healthy  # a fault changes the system itself
