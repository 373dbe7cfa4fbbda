"""Reading tables of series: columns, times, frequencies, gaps, missing values and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from textrnn.errors import ConfigError, CorpusError

from textrnn_forecast.config import ForecastConfig
from textrnn_forecast.data import fill_missing, read_table
from textrnn_forecast.dataset import load_series, make_split

from .helpers import AIRPASSENGERS, monthly_rows, seasonal, seasonal_csv, write_csv


def read(path, **kw):
    args = dict(time_column=None, targets=[], covariates=[], id_column=None, frequency=None)
    args.update(kw)
    return read_table(path, **args)


def test_airpassengers_is_monthly_with_144_values():
    table = read(AIRPASSENGERS)
    assert table.frequency == "monthly"
    (s,) = table.series
    assert s.name == "Passengers" and len(s.values) == 144
    assert s.values[0] == 112 and s.values[-1] == 432


@pytest.mark.parametrize("frequency, stamps", [
    ("yearly", [str(1871 + i) for i in range(30)]),
    ("quarterly", [f"{2000 + i // 4}-{3 * (i % 4) + 1:02d}-01" for i in range(30)]),
    ("weekly", [str(np.datetime64("2021-01-04") + np.timedelta64(7 * i, "D")) for i in range(30)]),
    ("daily", [str(np.datetime64("2021-01-04") + np.timedelta64(i, "D")) for i in range(30)]),
    ("hourly", [f"2021-01-0{1 + i // 24} {i % 24:02d}:00" for i in range(30)]),
])
def test_frequency_is_inferred(tmp_path, frequency, stamps):
    path = write_csv(tmp_path / "s.csv", "t,y", [f"{t},{i}" for i, t in enumerate(stamps)])
    table = read(path)
    assert table.frequency == frequency
    assert len(table.series[0].values) == 30 and not np.isnan(table.series[0].values).any()


def test_integer_years_parse_as_yearly(tmp_path):
    path = write_csv(tmp_path / "nile.csv", "year,volume", [f"{1871 + i},{1000 + i}" for i in range(20)])
    table = read(path)
    assert table.frequency == "yearly" and table.series[0].start == 1871 - 1970  # Period ordinals count from 1970


def test_gaps_become_missing_values_and_are_interpolated(tmp_path):
    rows = monthly_rows(range(24))
    del rows[5]  # a missing month
    rows[10] = rows[10].split(",")[0] + ","  # an empty cell
    table = read(write_csv(tmp_path / "g.csv", "m,y", rows))
    values = table.series[0].values
    assert len(values) == 24 and np.isnan(values[5]) and np.isnan(values[11])
    report = fill_missing(table.series, "interpolate")
    assert report == "2 missing values interpolated linearly"
    np.testing.assert_allclose(table.series[0].values, np.arange(24.0))


def test_mask_keeps_missing_targets(tmp_path):
    rows = monthly_rows(range(24))
    rows[7] = rows[7].split(",")[0] + ","
    table = read(write_csv(tmp_path / "m.csv", "m,y", rows))
    assert "masked" in fill_missing(table.series, "mask")
    assert np.isnan(table.series[0].values[7]) and table.series[0].missing == 1


def test_frequency_option_bins_irregular_stamps(tmp_path):
    stamps = ["2021-01-01 03:00", "2021-01-01 17:00", "2021-01-02 09:00", "2021-01-04 10:00", "2021-01-05 01:00"]
    path = write_csv(tmp_path / "i.csv", "t,y", [f"{t},{v}" for t, v in zip(stamps, [1, 3, 5, 7, 9])])
    with pytest.raises(CorpusError, match="irregular.*--frequency"):
        read(path)
    values = read(path, frequency="daily").series[0].values
    np.testing.assert_allclose(values, [2, 5, np.nan, 7, 9])  # two rows on Jan 1 averaged; Jan 3 missing


def test_id_column_stacks_series_and_covariates_follow(tmp_path):
    rows = [f"{s},{m},{v},{int(v) * 2}" for s in ("a", "b") for m, v in (r.split(",") for r in monthly_rows(range(30)))]
    table = read(write_csv(tmp_path / "ids.csv", "store,month,sales,price", rows), id_column="store",
                 targets=["sales"], covariates=["price"])  # the time column: the first with no other role
    assert [s.name for s in table.series] == ["a/sales", "b/sales"]
    np.testing.assert_allclose(table.series[1].covariates[:, 0], 2 * np.arange(30.0))


def test_several_targets_are_several_series(tmp_path):
    rows = [f"{r},{i * 3}" for i, r in enumerate(monthly_rows(range(30)))]
    table = read(write_csv(tmp_path / "two.csv", "m,a,b", rows))
    assert [s.name for s in table.series] == ["a", "b"]


def test_parquet_and_datasets_folder(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"month": [r.split(",")[0] for r in monthly_rows(range(30))], "y": np.arange(30.0)})
    frame.to_parquet(tmp_path / "s.parquet")
    assert len(read(tmp_path / "s.parquet").series[0].values) == 30
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "saved"))
    table = read(tmp_path / "saved")
    assert table.frequency == "monthly" and table.series[0].values[-1] == 29


def test_scaling_is_fitted_on_the_training_span_only(tmp_path):
    values = seasonal(60)
    a = write_csv(tmp_path / "a.csv", "m,y", monthly_rows(values))
    changed = values.copy()
    changed[-12:] *= 10  # only the held-out tail differs
    b = write_csv(tmp_path / "b.csv", "m,y", monthly_rows(changed))
    layouts = [make_split(ForecastConfig(data=str(p), horizon=12), load_series(ForecastConfig(data=str(p)))[0]).layout
               for p in (a, b)]
    assert layouts[0].loc == layouts[1].loc and layouts[0].scale == layouts[1].scale
    np.testing.assert_allclose(layouts[0].loc[0][0], values[:48].mean())


# -- bad input: each is one CorpusError/ConfigError with a clear message ---------------------

@pytest.mark.parametrize("kw, message", [
    (dict(targets=["sale"]), "no target column 'sale' \\(did you mean 'sales'\\?\\); the columns are month, sales"),
    (dict(time_column="when"), "no time column 'when'"),
    (dict(covariates=["price"]), "no covariate column 'price'"),
    (dict(id_column="store"), "no id column 'store'"),
])
def test_missing_columns(tmp_path, kw, message):
    with pytest.raises(CorpusError, match=message):
        read(seasonal_csv(tmp_path / "s.csv"), **kw)


def test_time_column_that_does_not_parse(tmp_path):
    path = write_csv(tmp_path / "t.csv", "month,y", [f"month {i},{i}" for i in range(30)])
    with pytest.raises(CorpusError, match="time column 'month' does not parse as dates"):
        read(path)


def test_non_numeric_target(tmp_path):
    rows = monthly_rows(range(30))
    rows[4] = rows[4].split(",")[0] + ",lots"
    with pytest.raises(CorpusError, match="target column 'y' is not numeric \\(row 6 holds 'lots'\\)"):
        read(write_csv(tmp_path / "n.csv", "m,y", rows), targets=["y"])


def test_all_nan_series(tmp_path):
    rows = [r.split(",")[0] + "," for r in monthly_rows(range(30))]
    table = read(write_csv(tmp_path / "nan.csv", "m,y", rows), targets=["y"])
    with pytest.raises(CorpusError, match="series 'y' has no numeric values"):
        fill_missing(table.series, "interpolate")


def test_series_shorter_than_horizon_plus_one_season(tmp_path):
    path = write_csv(tmp_path / "short.csv", "m,y", monthly_rows(range(30)))
    config = ForecastConfig(data=str(path), horizon=12)
    with pytest.raises(CorpusError, match="has 30 monthly values: too short for a horizon of 12 plus one season \\(12\\)"):
        make_split(config, load_series(config)[0])


@pytest.mark.parametrize("kw, message", [
    (dict(horizon=0), "horizon must be at least 1, got 0"),
    (dict(frequency="fortnightly"), "frequency must be one of"),
    (dict(loss="huber"), "loss must be one of mse, mae, gaussian"),
    (dict(target=["y"], covariates=["y"]), "both target and covariate: y"),
])
def test_bad_options(kw, message):
    with pytest.raises(ConfigError, match=message):
        ForecastConfig(**kw)


def test_empty_and_binary_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CorpusError, match="cannot read as a table"):
        read(tmp_path / "empty.csv")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(CorpusError, match="binary file"):
        read(tmp_path / "bin.csv")


def test_each_series_is_standardised_by_its_own_training_span(tmp_path):
    rows = [f"{s},{r}" for s, scale in (("a", 1), ("b", 1000))
            for r in monthly_rows(np.round(seasonal(60) * scale, 3))]
    path = write_csv(tmp_path / "two.csv", "id,month,y", rows)
    config = ForecastConfig(data=str(path), id_column="id", horizon=12)
    split = make_split(config, load_series(config)[0])
    for i in range(2):
        train = split.normalised(i)[:split.train_lengths[i], 0]
        assert abs(train.mean()) < 1e-4 and abs(train.std() - 1) < 1e-4
