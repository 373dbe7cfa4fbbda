"""A forecasting data set: the series of a config's file, split by time, with their layout.

The split is by time, per series: the last ``valid_length`` steps (one horizon, or
``valid_fraction`` of the series rounded up to whole horizons) are held out. Training
windows never reach them; the scaling is fitted without them; evaluation forecasts them
from successive origins one horizon apart, each origin reading the true values before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrnn.errors import ConfigError, CorpusError

from .data import FREQUENCIES, Series, Table, fill_missing, read_table
from .metrics import mase_scale
from .windows import Layout, channels, fit_scaling, normalise

DEFAULT_DATA = "airpassengers/airpassengers.csv"
MIN_CONTEXT = 2


def data_path(config) -> Path:
    """The config's data file, or the embedded AirPassengers."""
    if config.data:
        return Path(config.data)
    from textrnn.data.text import embedded

    path = embedded(DEFAULT_DATA)
    if not path.is_file():
        raise CorpusError(f"the embedded default series is missing ({path}); pass a DATA file")
    return path


def load_series(config, path: Path | None = None) -> tuple[Table, str]:
    """Read and fill the config's series; returns the table and the missing-value report."""
    table = read_table(path or data_path(config), time_column=config.time_column, targets=list(config.target),
                       covariates=list(config.covariates), id_column=config.id_column, frequency=config.frequency)
    report = fill_missing(table.series, config.missing)
    return table, report


@dataclass
class Split:
    """Series with their training length and the normalised channels the model reads."""

    series: list[Series]
    layout: Layout
    train_lengths: list[int]
    valid_length: int

    def normalised(self, index: int) -> np.ndarray:
        return normalise(channels(self.series[index]), self.layout, index).astype(np.float32)

    def mase_scales(self) -> list[float]:
        return [mase_scale(s.values[:n], self.layout.season) for s, n in zip(self.series, self.train_lengths)]


def season_of(config, frequency: str) -> int:
    return config.season or FREQUENCIES[frequency][1]


def horizon_of(config, frequency: str) -> int:
    return config.horizon or FREQUENCIES[frequency][2]


def valid_length(config, horizon: int, shortest: int) -> int:
    if config.valid_fraction is None:
        return horizon
    return max(1, math.ceil(config.valid_fraction * shortest / horizon)) * horizon


def make_split(config, table: Table, stored: Layout | None = None) -> Split:
    """Split ``table`` by time and fit (or, resuming, reuse) the layout."""
    frequency = table.frequency
    season, horizon = season_of(config, frequency), horizon_of(config, frequency)
    shortest = min(len(s.values) for s in table.series)
    held_out = valid_length(config, horizon, shortest)
    for s in table.series:
        need = held_out + horizon + max(season, MIN_CONTEXT)
        if len(s.values) < need:
            raise CorpusError(
                f"series {s.name!r} has {len(s.values)} {frequency} values: too short for a horizon of {horizon} "
                f"plus one season ({season}) of context and {held_out} held-out steps (needs at least {need})")
        if np.isnan(s.values[:len(s.values) - held_out]).all():
            raise CorpusError(f"series {s.name!r} has no numeric values in its training span")
    train_lengths = [len(s.values) - held_out for s in table.series]
    if stored is not None:
        return Split(table.series, stored, train_lengths, held_out)
    room = min(train_lengths) - horizon  # the longest context that leaves one window in every series
    context = config.context_length or max(2 * season, horizon, 8)
    if config.context_length and config.context_length > room:
        raise ConfigError(f"context_length {config.context_length} leaves no training window: the shortest "
                          f"training span has {min(train_lengths)} steps and the horizon is {horizon}")
    context = min(context, room)
    locs, scales = [], []
    for s, n in zip(table.series, train_lengths):
        loc, scale = fit_scaling(channels(s)[:n])
        locs.append(loc)
        scales.append(scale)
    layout = Layout(frequency, season, horizon, context, config.calendar, [s.name for s in table.series],
                    locs, scales, list(dict.fromkeys(s.target for s in table.series)), list(config.covariates))
    return Split(table.series, layout, train_lengths, held_out)


def match_layout(table: Table, layout: Layout, source: str) -> Layout:
    """The run's layout for the series of ``table``, which must be series the run was trained
    on, at its frequency (a subset, in any order)."""
    names = [s.name for s in table.series]
    if table.frequency != layout.frequency:
        raise CorpusError(f"{source}: {table.frequency} data, but the run was trained on {layout.frequency} data")
    unknown = [n for n in names if n not in layout.series]
    if unknown:
        raise CorpusError(f"{source}: series {', '.join(map(repr, unknown[:5]))} were not in the training data "
                          f"(the run knows {', '.join(map(repr, layout.series[:5]))})")
    order = [layout.series.index(n) for n in names]
    return Layout(**{**layout.to_dict(), "series": names, "loc": [layout.loc[i] for i in order],
                     "scale": [layout.scale[i] for i in order]})
