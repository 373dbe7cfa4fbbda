"""Reading a table of time series: columns, time parsing, frequency, gaps and missing values.

A table (CSV, TSV, Parquet or a ``datasets`` ``save_to_disk`` folder) has a time column,
one or more target columns, optional covariate columns and, for several series stacked
in one table, an id column. Every (id, target) pair becomes one :class:`Series`; all of
them train one global model. Covariates are *past* covariates: observed with the target,
not known ahead, so the models read them over the context (and the autoregressive model
forecasts them alongside the target).

Frequency: the coarsest of hourly, daily, weekly, monthly, quarterly and yearly at which
no two rows of a series share a period, provided at most :data:`MAX_GAP_SHARE` of the
steps between the first and last row are missing; otherwise the series is irregular and
``--frequency`` must say how to bin it (rows falling in one period are averaged). Missing
steps and empty cells are NaN and handled by :func:`fill_missing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from textrnn.errors import ConfigError, CorpusError

from .frequencies import FREQUENCIES

if TYPE_CHECKING:
    import pandas as pd

INFER_ORDER = ("yearly", "quarterly", "monthly", "weekly", "daily", "hourly")  # coarsest first
MAX_GAP_SHARE = 0.2  # more missing steps than this and the time column is called irregular
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": ","}


@dataclass
class Series:
    """One series on a regular grid: ``values[i]`` (NaN where missing) at period ``start + i``."""

    name: str  # "target" or "id/target"
    target: str
    start: int  # period ordinal of the first value (pandas Period.ordinal at the frequency)
    values: np.ndarray  # (T,) float64, NaN where missing
    covariates: np.ndarray  # (T, n_covariates) float64
    missing: int = 0  # values that were NaN before filling

    @property
    def ordinals(self) -> np.ndarray:
        return self.start + np.arange(len(self.values))


@dataclass
class Table:
    """The series of one file plus how they were read (for messages and run.json)."""

    series: list[Series]
    frequency: str
    source: str
    notes: list[str] = field(default_factory=list)


def read_frame(path: Path) -> "pd.DataFrame":
    """The file as a DataFrame; unreadable, binary or empty input is a CorpusError."""
    import pandas as pd

    if not path.exists():
        raise CorpusError(f"{path}: no such file or folder")
    try:
        if path.is_dir():
            frame = _read_saved_dataset(path)
        elif path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            with open(path, "rb") as f:
                head = f.read(8192)
            if b"\x00" in head:
                raise CorpusError(f"{path}: looks like a binary file (NUL bytes), not a CSV table")
            frame = pd.read_csv(path, sep=TABLE_SUFFIXES.get(path.suffix.lower(), ","), skipinitialspace=True)
    except CorpusError:
        raise
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise CorpusError(f"{path}: cannot read as a table ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if frame.empty:
        raise CorpusError(f"{path}: the table has no rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_saved_dataset(path: Path) -> "pd.DataFrame":
    if not any((path / marker).is_file() for marker in ("dataset_info.json", "state.json", "dataset_dict.json")):
        raise CorpusError(f"{path}: a folder, but not one written by datasets' save_to_disk")
    import datasets

    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        loaded = loaded["train"] if "train" in loaded else next(iter(loaded.values()))
    return loaded.to_pandas()


def check_columns(frame: "pd.DataFrame", wanted: dict[str, list[str]], source: str) -> None:
    """Every named column exists; the error lists the table's columns."""
    import difflib

    columns = list(frame.columns)
    for role, names in wanted.items():
        for name in names:
            if name not in columns:
                close = difflib.get_close_matches(name, columns, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise CorpusError(f"{source}: no {role} column {name!r}{hint}; the columns are {', '.join(columns)}")


def parse_times(column: "pd.Series", name: str, source: str) -> "pd.Series":
    """Timestamps of the time column: dates and datetimes, or integer years (1871)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        years = column.dropna()
        if len(years) == len(column) and (years == years.round()).all() and years.between(1, 9999).all():
            return pd.to_datetime(years.astype(int).astype(str).str.zfill(4), format="%Y")
        raise CorpusError(f"{source}: time column {name!r} holds numbers that are not years; "
                          "give dates such as 2020-01-31 or 2020-01")
    try:
        times = pd.to_datetime(column.astype(str).str.strip(), format="mixed")
    except (ValueError, TypeError, OverflowError) as exc:
        raise CorpusError(f"{source}: time column {name!r} does not parse as dates ({str(exc).splitlines()[0]})") from None
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert(None)
    return times


def infer_frequency(times_by_series: list["pd.Series"], source: str) -> str:
    """The coarsest regular frequency at which every series has one row per period."""
    import pandas as pd

    for name in INFER_ORDER:
        code = FREQUENCIES[name][0]
        fits = True
        for times in times_by_series:
            ordinals = pd.PeriodIndex(times, freq=code).asi8
            if len(np.unique(ordinals)) != len(ordinals):
                fits = False
                break
            span = ordinals.max() - ordinals.min() + 1
            if len(ordinals) > 1 and (span - len(ordinals)) / span > MAX_GAP_SHARE:
                raise CorpusError(f"{source}: the time column is irregular (as {name} data, "
                                  f"{span - len(ordinals)} of {span} steps are missing); "
                                  "pass --frequency (hourly, daily, weekly, monthly, quarterly, yearly) to bin it")
        if fits:
            return name
    raise CorpusError(f"{source}: the time column is irregular (two rows share an hour); "
                      "pass --frequency to bin the rows")


def numeric(frame: "pd.DataFrame", column: str, role: str, source: str) -> np.ndarray:
    """A column as floats; text that is not a number is an error naming the first bad cell."""
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna() & (frame[column].astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CorpusError(f"{source}: {role} column {column!r} is not numeric (row {row + 2} holds "
                          f"{str(frame[column].iloc[row])[:40]!r})")
    return values.to_numpy(dtype=float)


def read_table(path: Path, *, time_column: str | None, targets: list[str], covariates: list[str],
               id_column: str | None, frequency: str | None) -> Table:
    """Read ``path`` into regular series (see the module docstring)."""
    import pandas as pd

    source = str(path)
    frame = read_frame(path)
    if time_column is None:  # the first column that has no other role
        time_column = next((c for c in frame.columns if c not in {id_column, *targets, *covariates}), frame.columns[0])
    check_columns(frame, {"time": [time_column], "id": [id_column] if id_column else [],
                          "target": targets, "covariate": covariates}, source)
    if not targets:
        taken = {time_column, id_column, *covariates}
        targets = [c for c in frame.columns if c not in taken and pd.api.types.is_numeric_dtype(frame[c])]
        if not targets:
            raise CorpusError(f"{source}: no numeric column to forecast; name one with --target")
    times = parse_times(frame[time_column], time_column, source)
    groups = frame.groupby(frame[id_column].astype(str), sort=True) if id_column else [("", frame)]
    groups = [(key, rows.index) for key, rows in groups]
    notes = []
    if frequency is None:
        frequency = infer_frequency([times.loc[index] for _, index in groups], source)
        notes.append(f"frequency {frequency} (inferred from column {time_column!r})")
    elif frequency not in FREQUENCIES:
        raise ConfigError(f"frequency must be one of {', '.join(FREQUENCIES)}, got {frequency!r}")
    code = FREQUENCIES[frequency][0]
    values = {c: numeric(frame, c, "target", source) for c in targets}
    covariate_values = {c: numeric(frame, c, "covariate", source) for c in covariates}
    series = []
    for key, index in groups:
        ordinals = pd.PeriodIndex(times.loc[index], freq=code).asi8
        start, length = int(ordinals.min()), int(ordinals.max() - ordinals.min() + 1)
        position = ordinals - start
        cov = np.stack([_binned(covariate_values[c][index], position, length) for c in covariates], 1) \
            if covariates else np.zeros((length, 0))
        for target in targets:
            name = f"{key}/{target}" if id_column else target
            series.append(Series(name, target, start, _binned(values[target][index], position, length), cov))
    return Table(series, frequency, source, notes)


def _binned(values: np.ndarray, position: np.ndarray, length: int) -> np.ndarray:
    """Values placed on the regular grid; periods with several rows get their mean, none NaN."""
    sums, counts = np.zeros(length), np.zeros(length)
    keep = ~np.isnan(values)
    np.add.at(sums, position[keep], values[keep])
    np.add.at(counts, position[keep], 1)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def fill_missing(series: list[Series], how: str) -> str:
    """Fill NaNs in place by linear interpolation (edges: nearest value) and return a report.

    ``how="mask"`` fills the inputs the same way but keeps a NaN copy of the target so
    that the loss and the metrics skip the missing values (:attr:`Series.missing`).
    All-NaN series are an error.
    """
    total = 0
    for s in series:
        nan = np.isnan(s.values)
        if nan.all():
            raise CorpusError(f"series {s.name!r} has no numeric values (every value is missing)")
        s.missing = int(nan.sum())
        total += s.missing
        if how == "interpolate":
            s.values = _interpolate(s.values)
        s.covariates = np.stack([_interpolate(c) for c in s.covariates.T], 1) if s.covariates.shape[1] else s.covariates
    if total == 0:
        return "no missing values"
    verb = "interpolated linearly" if how == "interpolate" else "masked in the loss and metrics (inputs interpolated)"
    return f"{total} missing value{'s' if total != 1 else ''} {verb}"


def _interpolate(values: np.ndarray) -> np.ndarray:
    nan = np.isnan(values)
    if not nan.any():
        return values
    if nan.all():
        return np.zeros_like(values)
    index = np.arange(len(values))
    return np.interp(index, index[~nan], values[~nan])


def interpolated(values: np.ndarray) -> np.ndarray:
    """``values`` with NaNs filled linearly (the inputs the models read)."""
    return _interpolate(values)


def period_labels(frequency: str, ordinals: np.ndarray) -> list[str]:
    """Readable time stamps of period ordinals: 1960-12, 1970, 2020-01-05 13:00..."""
    import pandas as pd

    code = FREQUENCIES[frequency][0]
    periods = pd.PeriodIndex.from_ordinals(ordinals, freq=code)
    formats = {"yearly": "%Y", "quarterly": None, "monthly": "%Y-%m", "weekly": "%Y-%m-%d",
               "daily": "%Y-%m-%d", "hourly": "%Y-%m-%d %H:00"}
    if frequency == "weekly":
        return [p.start_time.strftime("%Y-%m-%d") for p in periods]
    fmt = formats[frequency]
    return [str(p) if fmt is None else p.strftime(fmt) for p in periods]
