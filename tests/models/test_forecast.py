"""The trend forecast on series whose true crossing time is known."""

from __future__ import annotations

import numpy as np
import pytest

from pdm.models.forecast import DAY_S, Forecast, Reason, TrendSettings, forecast

LIMIT = 1.0


def _series(level, *, days: float = 3.0, n: int = 600, noise: float = 0.03, seed: int = 1):
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, days * DAY_S, n) + 1.7e9
    return t, level((t - t[0]) / DAY_S) + rng.normal(0, noise, n)


def test_a_linear_rise_is_forecast_with_the_true_crossing_inside_its_interval():
    # 0.3 at day 0, +0.15 a day: reaches 1.0 at day 4.67, i.e. 1.67 days after the last row.
    t, h = _series(lambda d: 0.3 + 0.15 * d)
    f = forecast(t, h, limit=LIMIT)
    truth = (4.667 - 3.0) * DAY_S
    assert f.status == "forecast" and f.trend == "linear"
    assert f.low_s <= truth <= f.high_s
    assert abs(f.eta_s - truth) < 0.15 * truth
    assert f.based_on_s == pytest.approx(3 * DAY_S)
    assert "limit in about" in f.sentence() and "linear trend over the last 3 days" in f.sentence()


def test_damage_that_feeds_itself_is_fitted_as_exponential():
    # 0.1·e^(0.6 d): 1.0 at day ln(10)/0.6 = 3.84, 0.84 days after the last row.
    t, h = _series(lambda d: 0.1 * np.exp(0.6 * d), noise=0.01)
    f = forecast(t, h, limit=LIMIT)
    truth = (np.log(10) / 0.6 - 3.0) * DAY_S
    assert f.status == "forecast" and f.trend == "exponential"
    assert f.low_s <= truth <= f.high_s


def test_the_interval_widens_with_a_noisier_indicator():
    quiet = forecast(*_series(lambda d: 0.3 + 0.15 * d, noise=0.01))
    noisy = forecast(*_series(lambda d: 0.3 + 0.15 * d, noise=0.08))
    assert quiet.status == noisy.status == "forecast"
    assert noisy.high_s - noisy.low_s > 2 * (quiet.high_s - quiet.low_s)


def test_the_80_percent_interval_covers_the_truth_about_that_often():
    truth = (4.667 - 3.0) * DAY_S
    found = [forecast(*_series(lambda d: 0.3 + 0.15 * d, noise=0.06, seed=s)) for s in range(30)]
    assert np.mean([f.low_s <= truth <= (f.high_s or np.inf) for f in found]) >= 0.7
    # Not by being uselessly wide: the interval stays within three quarters of the time left (a
    # quadratic fits three noisy days of a straight rise nearly as well, and shares the draws).
    assert np.median([f.high_s - f.low_s for f in found]) < 0.75 * truth


@pytest.mark.parametrize(
    ("level", "words"),
    [
        (lambda d: 0.4 + 0 * d, "not clearly rising"),  # healthy and flat
        (lambda d: 0.8 - 0.1 * d, "not clearly rising"),  # recovering after maintenance
        (lambda d: 0.3 + 0.001 * d, "not clearly rising"),  # a slope lost in the noise
    ],
)
def test_no_trend_is_withheld_not_guessed(level, words):
    f = forecast(*_series(level), limit=LIMIT)
    assert f.status == "no_trend" and f.code is Reason.NOT_RISING and words in f.reason
    assert f.eta_s is None and f.sentence() == f.reason


def test_a_crossing_far_beyond_the_window_is_withheld():
    # Clearly rising but would take ~70 days: more than ten 3-day windows away.
    f = forecast(*_series(lambda d: 0.3 + 0.01 * d, noise=0.001), limit=LIMIT)
    assert f.status == "no_trend" and f.code is Reason.TOO_FAR
    # The numbers its words need: the horizon it would pass, and the span the trend was fitted on.
    assert f.horizon_s == pytest.approx(30 * DAY_S) and f.based_on_s == pytest.approx(3 * DAY_S)
    assert f.reason == "the trend would reach the limit beyond 30 days: too far to forecast from 3 days"


def test_a_wobbling_indicator_with_a_rising_mean_is_not_fitted_as_a_trend():
    t, h = _series(lambda d: 0.5 + 0.02 * d + 0.3 * np.sin(d * 2 * np.pi), noise=0.01)
    f = forecast(t, h, limit=LIMIT)
    assert f.status == "no_trend" and f.code in (Reason.NOT_RISING, Reason.POOR_FIT)


def test_a_poor_fit_says_which_trend_and_how_much_it_explains():
    # A clear rise with noise that a straight line explains only in part: allowed with min_r2 = 0.5,
    # withheld when the fit must explain 99 % of the moves.
    series = _series(lambda d: 0.3 + 0.15 * d, noise=0.06)
    f = forecast(*series, settings=TrendSettings(min_r2=0.99))
    assert f.status == "no_trend" and f.code is Reason.POOR_FIT and f.trend is not None
    assert 0.5 < f.r2 < 0.99
    assert f.reason == f"no trend: the best fit ({f.trend}) explains {f.r2:.0%} of the indicator's moves"


def test_an_indicator_over_its_limit_is_reported_reached():
    f = forecast(*_series(lambda d: 0.6 + 0.2 * d), limit=LIMIT)
    assert f.status == "reached" and f.code is Reason.REACHED and f.level > 1.0
    assert f.reason == f"the indicator is at {f.level:.2f} of its limit now"


def test_too_few_rows_or_bins_say_so():
    few = forecast(np.arange(5.0), np.ones(5) * 0.5)
    assert few.status == "too_little_data" and few.code is Reason.FEW_ROWS and few.n_rows == 5
    assert few.reason == "too little data: 5 scored rows in the window"
    # Many rows, all in the window's last minutes: too few time bins hold data.
    t = np.concatenate([[0.0], np.linspace(DAY_S - 600, DAY_S, 200)])
    f = forecast(t, np.linspace(0.2, 0.5, len(t)))
    assert f.status == "too_little_data" and f.code is Reason.FEW_BINS and "time bins" in f.reason
    assert (f.n_bins, f.bins) == (2, 36) and f.reason == "too little data: 2 of 36 time bins hold scores"


def test_a_forecast_is_coded_and_its_code_is_in_its_dict():
    f = forecast(*_series(lambda d: 0.3 + 0.15 * d))
    assert f.code is Reason.FORECAST and f.reason == ""
    assert f.as_dict()["code"] == "forecast"
    assert Forecast("reached", "x", code=Reason.REACHED).as_dict()["code"] == "reached"


def test_non_finite_rows_are_left_out():
    t, h = _series(lambda d: 0.3 + 0.15 * d)
    h[::7] = np.nan
    h[3] = np.inf
    assert forecast(t, h).status == "forecast"


def test_same_series_same_forecast():
    series = _series(lambda d: 0.3 + 0.15 * d, noise=0.05)
    assert forecast(*series) == forecast(*series)
    assert forecast(*series, settings=TrendSettings(seed=1)) != forecast(*series)


def test_doubt_about_the_limit_widens_the_interval_around_the_same_crossing():
    series = _series(lambda d: 0.3 + 0.15 * d, noise=0.02)
    one = forecast(*series, limit=1.0)
    several = forecast(*series, limit=[0.9, 1.0, 1.1])
    assert several.high_s - several.low_s > 3 * (one.high_s - one.low_s)
    assert several.low_s < one.low_s and several.high_s > one.high_s
    assert forecast(*series, limit=[0.6, 0.7, 0.75]).status == "reached"  # over the median past level


def test_a_squared_score_over_a_steady_deviation_is_fitted_as_quadratic():
    # mad and pca score squared distances: a deviation growing 0.15 a day gives (0.2 + 0.15 d)².
    t, h = _series(lambda d: (0.2 + 0.15 * d) ** 2, noise=0.005)
    f = forecast(t, h, limit=LIMIT)
    truth = (0.8 / 0.15 - 3.0) * DAY_S
    assert f.status == "forecast" and f.trend == "quadratic"
    assert f.low_s <= truth <= f.high_s
