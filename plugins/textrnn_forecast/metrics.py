"""Forecast errors and the baselines every forecast is printed beside (numpy only).

Definitions follow Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*
(3rd ed., 5.8 and 5.2):

* MAE, RMSE: in the series' own units;
* sMAPE: ``mean(200 |y - f| / (|y| + |f|))`` percent (the M4 competition's form);
* MASE: MAE divided by the in-sample MAE of the seasonal-naive forecast one season ahead,
  ``mean |y_t - y_{t-m}|`` over the training span (period ``m``; 1 gives the naive forecast);
* coverage: the share of true values inside an interval, in percent.

Several series are scored together by pooling their errors (MAE, RMSE, sMAPE, coverage)
and by averaging MASE over series, since each series has its own scale.
"""

from __future__ import annotations

import numpy as np

from textrnn.errors import CorpusError

BASELINES = ("seasonal_naive", "naive", "drift")


def mase_scale(train: np.ndarray, season: int) -> float:
    """In-sample MAE of the seasonal-naive forecast with period ``season`` (falls back to 1);
    pairs with a missing (masked) value are left out."""
    period = season if np.count_nonzero(~np.isnan(train)) > season else 1
    differences = np.abs(train[period:] - train[:-period])
    differences = differences[~np.isnan(differences)]
    if differences.size == 0:
        raise CorpusError(f"a series has {np.count_nonzero(~np.isnan(train))} training values: too few to scale MASE")
    scale = float(differences.mean())
    return scale if scale > 0 else float("nan")  # a constant series has no error to scale by


def ratio(value: float, baseline: float) -> float | None:
    """``value / baseline``, or None where the baseline is 0 or undefined (a perfect baseline)."""
    return value / baseline if np.isfinite(baseline) and baseline > 0 else None


def point_errors(truth: np.ndarray, forecast: np.ndarray) -> dict[str, np.ndarray]:
    """Element-wise absolute and squared errors and sMAPE terms, NaNs (masked truth) dropped."""
    keep = ~np.isnan(truth)
    y, f = truth[keep], forecast[keep]
    denominator = np.abs(y) + np.abs(f)
    smape = np.where(denominator > 0, 200.0 * np.abs(y - f) / np.where(denominator > 0, denominator, 1), 0.0)
    return {"abs": np.abs(y - f), "sq": (y - f) ** 2, "smape": smape}


def score(series: list[dict], key: str = "forecast") -> dict[str, float]:
    """Pooled metrics of ``series[i][key]`` against ``series[i]["truth"]``.

    Each item holds ``truth`` and ``train`` (arrays), ``scale`` (:func:`mase_scale`) and
    the forecast under ``key``; optional ``lower_80``/``upper_80``/``lower_95``/``upper_95``
    under ``key + "_intervals"`` add coverage.
    """
    errors = [point_errors(s["truth"], s[key]) for s in series]
    absolute = np.concatenate([e["abs"] for e in errors])
    result = {
        "mae": float(absolute.mean()),
        "rmse": float(np.sqrt(np.concatenate([e["sq"] for e in errors]).mean())),
        "smape": float(np.concatenate([e["smape"] for e in errors]).mean()),
        "mase": _mean_finite([e["abs"].mean() / s["scale"] for e, s in zip(errors, series)]),
    }
    intervals = [s.get(key + "_intervals") for s in series]
    if all(intervals):
        for level in (80, 95):
            inside = [(s["truth"] >= i[f"lower_{level}"]) & (s["truth"] <= i[f"upper_{level}"])
                      for s, i in zip(series, intervals)]
            kept = np.concatenate([c[~np.isnan(s["truth"])] for c, s in zip(inside, series)])
            result[f"coverage_{level}"] = float(100.0 * kept.mean())
    return result


def _mean_finite(values: list[float]) -> float:
    """Mean over series whose MASE is defined (NaN when none is: every scale was 0)."""
    kept = [v for v in values if np.isfinite(v)]
    return float(np.mean(kept)) if kept else float("nan")


def baseline(name: str, train: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The ``name`` forecast (seasonal_naive, naive or drift) of ``horizon`` steps after ``train``."""
    values = train[~np.isnan(train)]
    steps = np.arange(1, horizon + 1)
    if name == "naive" or (name == "seasonal_naive" and (season <= 1 or len(values) < season)):
        return np.full(horizon, values[-1], dtype=float)
    if name == "seasonal_naive":
        last_season = values[-season:]
        return last_season[(steps - 1) % season].astype(float)
    if name == "drift":
        slope = (values[-1] - values[0]) / max(len(values) - 1, 1)
        return values[-1] + slope * steps
    raise ValueError(f"unknown baseline {name!r}")
