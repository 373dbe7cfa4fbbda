"""Forecast errors and baselines against hand-computed values and the issue's AirPassengers numbers."""

from __future__ import annotations

import numpy as np
import pytest

from textrnn_forecast.metrics import BASELINES, baseline, mase_scale, score

from .helpers import AIRPASSENGERS


def item(truth, forecast, train, season=1, **extra):
    train = np.asarray(train, float)
    return {"truth": np.asarray(truth, float), "forecast": np.asarray(forecast, float), "train": train,
            "scale": mase_scale(train, season), **extra}


def test_metrics_by_hand():
    result = score([item([10, 20], [12, 16], train=[1, 2, 4, 7])])  # in-sample naive MAE = (1 + 2 + 3) / 3 = 2
    assert result["mae"] == pytest.approx(3.0)
    assert result["rmse"] == pytest.approx(np.sqrt((4 + 16) / 2))
    assert result["smape"] == pytest.approx((200 * 2 / 22 + 200 * 4 / 36) / 2)
    assert result["mase"] == pytest.approx(1.5)


def test_masked_truth_is_left_out_and_coverage_counts_inside():
    bounds = {"lower_80": np.array([0, 0, 0]), "upper_80": np.array([1, 1, 5]),
              "lower_95": np.array([0, 0, 0]), "upper_95": np.array([9, 9, 9])}
    result = score([item([3, np.nan, 4], [3, 100, 2], train=[0, 1, 2], forecast_intervals=bounds)])
    assert result["mae"] == pytest.approx(1.0)  # the NaN step (forecast 100) does not count
    assert result["coverage_80"] == pytest.approx(50.0) and result["coverage_95"] == pytest.approx(100.0)


def test_baselines():
    train = np.array([1.0, 2, 3, 4, 5, 6, 7, 9])
    np.testing.assert_allclose(baseline("naive", train, 3, 4), [9, 9, 9])
    np.testing.assert_allclose(baseline("seasonal_naive", train, 6, 4), [5, 6, 7, 9, 5, 6])
    np.testing.assert_allclose(baseline("drift", train, 2, 4), [9 + 8 / 7, 9 + 16 / 7])


def test_airpassengers_seasonal_naive_matches_the_issue():
    values = np.loadtxt(AIRPASSENGERS, delimiter=",", skiprows=1, usecols=1, converters={0: lambda s: 0})
    train, truth = values[:-12], values[-12:]
    it = item(truth, baseline("seasonal_naive", train, 12, 12), train, season=12)
    result = score([it])
    assert result["mae"] == pytest.approx(47.83, abs=0.005)
    assert result["smape"] == pytest.approx(10.57, abs=0.005)
    assert result["mase"] == pytest.approx(1.571, abs=0.0005)
    assert set(BASELINES) == {"seasonal_naive", "naive", "drift"}


def test_masked_pairs_and_perfect_baselines():
    from textrnn_forecast.metrics import ratio

    # the pairs (t, t - 2) with a NaN are left out: |3 - 1|, |5 - 3| and |9 - 5| remain
    assert mase_scale(np.array([1.0, np.nan, 3, 4, 5, np.nan, 9]), 2) == pytest.approx((2 + 2 + 4) / 3)
    assert np.isnan(mase_scale(np.array([5.0] * 6), 1))  # constant: MASE undefined, not infinite
    assert ratio(1.0, 0.0) is None and ratio(1.0, float("nan")) is None and ratio(1.0, 4.0) == 0.25
    assert np.isnan(score([item([5, 5], [5, 6], train=[5, 5, 5])])["mase"])


def test_intervals_are_central_quantiles_of_the_paths():
    from textrnn_forecast.scoring import intervals

    paths = np.random.default_rng(0).standard_normal((20000, 2)) * [1.0, 3.0]  # (samples, H)
    bounds = intervals(paths)
    np.testing.assert_allclose(bounds["lower_80"], [-1.2816, -3 * 1.2816], rtol=0.03)
    np.testing.assert_allclose(bounds["upper_80"], [1.2816, 3 * 1.2816], rtol=0.03)
    np.testing.assert_allclose(bounds["lower_95"], [-1.96, -3 * 1.96], rtol=0.03)
    np.testing.assert_allclose(bounds["upper_95"], [1.96, 3 * 1.96], rtol=0.03)
