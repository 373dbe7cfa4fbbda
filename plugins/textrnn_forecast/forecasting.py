"""Using a trained forecast run: forecast past the data's end, or score its held-out tail.

These are the library functions behind ``textrnn forecast``, ``textrnn evaluate`` and
``textrnn.load(run).forecast(...)``. They read the run's ``config.json`` (how to read
the data) and ``run.json`` (the layout: frequency, scaling, context, horizon).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrnn.errors import ConfigError, RunError

from .config import ForecastConfig
from .data import period_labels
from .dataset import Split, load_series, match_layout
from .scoring import backtest, intervals, report
from .windows import Layout, channels, denormalise_target, normalise, predict


@dataclass
class SeriesForecast:
    """One series' history and forecast (data units), with intervals when the run has them."""

    name: str
    history_ordinals: np.ndarray
    history: np.ndarray
    ordinals: np.ndarray
    forecast: np.ndarray
    intervals: dict[str, np.ndarray] | None
    truth: np.ndarray | None = None  # held-out values (evaluate only)


def run_config(run) -> ForecastConfig:
    from textrnn.training import run_dir as rd

    data = rd.read_json(Path(run.run_dir) / rd.CONFIG_FILE, "run config")
    data.pop("task", None)
    return ForecastConfig.from_dict({k: v for k, v in data.items() if k in ForecastConfig.__dataclass_fields__})


def run_layout(run) -> Layout:
    stored = run.meta.get("forecast")
    if not isinstance(stored, dict):
        raise RunError(f"{run.run_dir} is not a forecast run (run.json has no 'forecast' layout)")
    return Layout.from_dict(stored)


def _samples(config: ForecastConfig, samples: int | None) -> int:
    if config.loss != "gaussian":
        return 0
    return config.samples if samples is None else samples


def forecast(run, data: str | Path | None = None, horizon: int | None = None, *, samples: int | None = None,
             seed: int = 0) -> list[SeriesForecast]:
    """Forecast ``horizon`` steps (default: the run's) after the end of each series in
    ``data`` (default: the run's training file), reading all of it as history."""
    config = run_config(run)
    layout = run_layout(run)
    horizon = layout.horizon if horizon is None else horizon
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(f"horizon must be at least 1, got {horizon}")
    table, _ = load_series(config, Path(data) if data else None)
    layout = match_layout(table, layout, table.source)
    for s in table.series:
        if len(s.values) < layout.context_length:
            raise RunError(f"series {s.name!r} has {len(s.values)} values; the model reads {layout.context_length}")
    import torch

    history = [normalise(channels(s), layout, i).astype(np.float32) for i, s in enumerate(table.series)]
    next_ordinals = [s.start + len(s.values) + np.arange(horizon) for s in table.series]
    count = _samples(config, samples)
    generator = torch.Generator(device=run.device).manual_seed(seed) if count else None
    point, drawn = predict(run.model, history, next_ordinals, layout, horizon, samples=count,
                           generator=generator, device=run.device)
    return [SeriesForecast(s.name, s.ordinals, s.values, next_ordinals[i], denormalise_target(point[i], layout, i),
                           intervals(denormalise_target(drawn[i], layout, i)) if count else None)
            for i, s in enumerate(table.series)]


def forecast_rows(run, forecasts: list[SeriesForecast]) -> list[dict]:
    """One row per series and step: series, time, forecast and the interval bounds."""
    frequency = run_layout(run).frequency
    rows = []
    for f in forecasts:
        for k, (time, value) in enumerate(zip(period_labels(frequency, f.ordinals), f.forecast)):
            row = {"series": f.name, "time": time, "forecast": float(value)}
            for key, bounds in (f.intervals or {}).items():
                row[key] = float(bounds[k])
            rows.append(row)
    return rows


def evaluate(run, data: str | Path | None = None, *, samples: int | None = None, seed: int | None = None):
    """Score the run on the held-out tail of ``data`` (default: its training file), split
    as in training. Returns (report, per-series forecasts for plotting, split)."""
    config = run_config(run)
    table, _ = load_series(config, Path(data) if data else None)
    layout = match_layout(table, run_layout(run), table.source)
    from .dataset import make_split

    split: Split = make_split(config, table, stored=layout)
    seed = config.seed if seed is None else seed  # the sample paths training's evaluations drew
    items = backtest(run.model, split, samples=_samples(config, samples), seed=seed, device=run.device)
    result = report(items)
    result.update(series=len(split.series), held_out=split.valid_length, horizon=layout.horizon,
                  season=layout.season, frequency=layout.frequency, source=table.source)
    pictures = []
    for i, s in enumerate(split.series):
        mine = [it for it in items if it["series"] == s.name]
        n = split.train_lengths[i]
        bounds = None
        if all("forecast_intervals" in it for it in mine):
            bounds = {k: np.concatenate([it["forecast_intervals"][k] for it in mine]) for k in mine[0]["forecast_intervals"]}
        pictures.append(SeriesForecast(s.name, s.ordinals[:n], s.values[:n], s.ordinals[n:n + split.valid_length],
                                       np.concatenate([it["forecast"] for it in mine]), bounds,
                                       truth=s.values[n:n + split.valid_length]))
    return result, pictures

