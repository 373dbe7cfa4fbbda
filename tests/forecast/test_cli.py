"""``textrnn train forecast``, ``evaluate``, ``forecast`` and the Python API, end to end on tiny runs."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from tests.cli.helpers import assert_error, run_cli

from .helpers import monthly_rows, seasonal, seasonal_csv, write_csv

TINY = ["--hidden-size", "8", "--max-steps", "30", "--eval-every", "30", "--batch-size", "8", "--threads", "1",
        "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run on a clean monthly seasonal series, horizon 6."""
    folder = tmp_path_factory.mktemp("forecast")
    data = seasonal_csv(folder / "sales.csv", n=72)
    out = folder / "run"
    result = run_cli("train", "forecast", data, "--out", out, "--horizon", "6", "--json", *TINY)
    assert result.exit_code == 0, result.stderr
    return data, out, json.loads(result.stdout.strip().splitlines()[-1])


def test_train_reports_the_model_beside_the_baselines(trained):
    _, out, summary = trained
    valid = summary["valid"]
    assert set(valid) >= {"model", "seasonal_naive", "naive", "drift", "mase_vs_seasonal_naive"}
    assert set(valid["model"]) == {"mae", "rmse", "smape", "mase"}
    assert valid["held_out"] == 6 and valid["season"] == 12 and valid["frequency"] == "monthly"
    stored = json.loads((out / "run.json").read_text())
    assert stored["task"] == "forecast" and stored["forecast"]["horizon"] == 6
    # no checkpoint is chosen on the held-out tail: the "best" is the last evaluation
    assert json.loads((out / "best.json").read_text())["step"] == summary["steps"] == 30
    assert stored["forecast"]["series"] == ["sales"] and len(stored["forecast"]["loc"][0]) == 1


def test_evaluate_repeats_the_training_report(trained):
    _, out, summary = trained
    result = run_cli("evaluate", out, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == pytest.approx(summary["valid"]["model"])
    text = run_cli("evaluate", out)
    assert "seasonal_naive" in text.stdout and "MASE" in text.stdout


def test_evaluate_reads_another_file(trained, tmp_path):
    data, out, summary = trained
    shifted = write_csv(tmp_path / "later.csv", "month,sales", monthly_rows(np.arange(72) * 2.0 + 300))
    report = json.loads(run_cli("evaluate", out, shifted, "--json").stdout)
    assert report["source"] == str(shifted) and report["naive"]["mae"] == pytest.approx(2.0 * 3.5)  # steps 1..6 ahead
    assert report["model"] != summary["valid"]["model"]


def test_masked_gaps_train_and_are_reported(tmp_path):
    rows = monthly_rows(seasonal(72))
    rows[20] = rows[20].split(",")[0] + ","
    del rows[30]
    data = write_csv(tmp_path / "gaps.csv", "month,sales", rows)
    result = run_cli("train", "forecast", data, "--out", tmp_path / "m", "--horizon", "6", "--missing", "mask", *TINY)
    assert result.exit_code == 0, result.stderr
    assert "2 missing values masked in the loss and metrics" in result.stderr
    assert json.loads((tmp_path / "m" / "run.json").read_text())["missing"].startswith("2 missing values masked")
    assert "nan" not in result.stderr.lower()


def test_forecast_continues_past_the_end_as_csv_json_and_plot(trained, tmp_path):
    _, out, _ = trained
    result = run_cli("forecast", out, "--horizon", "8")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["time"] for r in rows[:2]] == ["2006-01", "2006-02"] and len(rows) == 8  # 72 months from 2000-01
    assert all(np.isfinite(float(r["forecast"])) for r in rows)
    as_json = run_cli("forecast", out, "--horizon", "8", "--json")
    assert [r["forecast"] for r in json.loads(as_json.stdout)] == pytest.approx([float(r["forecast"]) for r in rows])
    written = run_cli("forecast", out, "--output", tmp_path / "f.json", "--plot", tmp_path / "f.png")
    assert written.exit_code == 0, written.stderr
    assert len(json.loads((tmp_path / "f.json").read_text())) == 6 and (tmp_path / "f.png").stat().st_size > 1000
    plotted = run_cli("evaluate", out, "--plot", tmp_path / "e.png")
    assert plotted.exit_code == 0 and (tmp_path / "e.png").stat().st_size > 1000


def test_python_api_forecast(trained):
    import textrnn

    _, out, _ = trained
    rows = textrnn.load(out).forecast(horizon=3)
    assert [r["series"] for r in rows] == ["sales"] * 3 and rows[0]["time"] == "2006-01"


def test_gaussian_runs_give_intervals(tmp_path):
    data = seasonal_csv(tmp_path / "s.csv", n=72)
    out = tmp_path / "g"
    result = run_cli("train", "forecast", data, "--out", out, "--horizon", "6", "--loss", "gaussian",
                     "--model", "ar-rnn", "--samples", "50", "--json", *TINY)
    assert result.exit_code == 0, result.stderr
    model = json.loads(result.stdout.strip().splitlines()[-1])["valid"]["model"]
    assert 0 <= model["coverage_80"] <= model["coverage_95"] <= 100
    rows = json.loads(run_cli("forecast", out, "--json").stdout)
    assert all(r["lower_95"] <= r["lower_80"] <= r["upper_80"] <= r["upper_95"] for r in rows)


def test_a_clean_seasonal_series_is_learned(tmp_path):
    """Learning test: on a trend + season with little noise, 150 steps beat seasonal naive by far
    (seasonal naive misses the trend by 12 months x 0.5 = 6 units every step, in sample too,
    so its MASE is about 1; the noise alone would give a MASE near 0.1)."""
    data = seasonal_csv(tmp_path / "s.csv", n=96)
    result = run_cli("train", "forecast", data, "--out", tmp_path / "r", "--horizon", "12", "--json",
                     "--max-steps", "150", "--threads", "1", "--device", "cpu")
    valid = json.loads(result.stdout.strip().splitlines()[-1])["valid"]
    assert valid["seasonal_naive"]["mase"] > 0.9
    assert valid["model"]["mase"] < 0.4, valid


def test_default_data_is_the_embedded_airpassengers(tmp_path):
    result = run_cli("train", "forecast", "--out", tmp_path / "air", "--json", *TINY)
    assert result.exit_code == 0, result.stderr
    valid = json.loads(result.stdout.strip().splitlines()[-1])["valid"]
    assert valid["source"].endswith("airpassengers.csv") and valid["held_out"] == 12
    assert valid["seasonal_naive"]["mase"] == pytest.approx(1.571, abs=5e-4)


# -- bad input: one Error: line, exit 1 -------------------------------------------------------

@pytest.fixture()
def sales(tmp_path):
    return seasonal_csv(tmp_path / "sales.csv", n=72)


def bad_rows(tmp_path, name, rows, header="month,sales"):
    return write_csv(tmp_path / name, header, rows)


@pytest.mark.parametrize("make, flags, fragments", [
    (lambda tmp, s: s, ["--target", "sale"], ["no target column 'sale'", "did you mean 'sales'"]),
    (lambda tmp, s: s, ["--time-column", "date"], ["no time column 'date'"]),
    (lambda tmp, s: bad_rows(tmp, "t.csv", [f"soon {i},{i}" for i in range(72)]), [],
     ["time column 'month' does not parse as dates"]),
    (lambda tmp, s: bad_rows(tmp, "i.csv", [f"2020-01-{1 + 3 * i:02d},{i}" for i in range(10)]), ["--horizon", "2"],
     ["irregular", "--frequency"]),
    (lambda tmp, s: bad_rows(tmp, "short.csv", monthly_rows(range(20))), ["--horizon", "6"],
     ["series 'sales' has 20 monthly values: too short for a horizon of 6 plus one season (12)"]),
    (lambda tmp, s: bad_rows(tmp, "n.csv", monthly_rows(["x"] * 72)), ["--target", "sales"],
     ["target column 'sales' is not numeric"]),
    (lambda tmp, s: s, ["--horizon", "0"], ["horizon must be at least 1, got 0"]),
    (lambda tmp, s: bad_rows(tmp, "nan.csv", [r.split(",")[0] + ",,1" for r in monthly_rows(range(72))],
                             header="month,sales,other"), ["--target", "sales"],
     ["series 'sales' has no numeric values"]),
    (lambda tmp, s: tmp / "absent.csv", [], ["absent.csv: no such file"]),
    (lambda tmp, s: s, ["--model", "blok-rnn"], ["unknown forecast model 'blok-rnn'"]),
])
def test_bad_training_input(tmp_path, sales, make, flags, fragments):
    data = make(tmp_path, sales)
    assert_error(run_cli("train", "forecast", data, "--out", tmp_path / "run", *flags, *TINY), *fragments)
    assert not (tmp_path / "run" / "run.json").exists()


def test_bad_forecast_requests(trained, tmp_path):
    _, out, _ = trained
    assert_error(run_cli("forecast", out, "--horizon", "0"), "--horizon must be at least 1")
    assert_error(run_cli("forecast", out, "--output", tmp_path / "f.txt"), "--output must end in .csv or .json")
    other = write_csv(tmp_path / "other.csv", "month,visits", monthly_rows(range(40)))
    assert_error(run_cli("forecast", out, other), "series 'visits' were not in the training data")
    assert_error(run_cli("forecast", tmp_path / "nowhere"), "nowhere")
    refused = run_cli("forecast", out, "--plot", tmp_path / "f.nope")
    assert_error(refused, "cannot write", "pick a file ending in")
    assert refused.stdout == ""  # refused before forecasting
    assert_error(run_cli("evaluate", out, "--plot", tmp_path / "e.nope"), "cannot write", "pick a file ending in")


def test_config_files_round_trip(tmp_path):
    printed = run_cli("train", "forecast", "--print-config", "--horizon", "6", "--target", "Passengers",
                      "--model-option", "cell=lstm")
    assert printed.exit_code == 0, printed.stderr
    (tmp_path / "c.toml").write_text(printed.stdout)
    again = run_cli("train", "forecast", "--config", tmp_path / "c.toml", "--print-config", "--loss", "mae")
    assert 'target = ["Passengers"]' in again.stdout and "horizon = 6" in again.stdout
    assert 'cell = "lstm"' in again.stdout and 'loss = "mae"' in again.stdout


def test_stacked_series_with_a_covariate_and_a_valid_fraction(tmp_path):
    """Two stores in one table, a past covariate, the autoregressive model, and a held-out
    fifth scored from two origins one horizon apart."""
    rows = [f"{store},{month},{value},{float(value) / 10:.3f}"
            for store, shift in (("north", 0), ("south", 50))
            for month, value in (r.split(",") for r in monthly_rows(seasonal(60, seed=len(store)) + shift))]
    data = write_csv(tmp_path / "stores.csv", "store,month,sales,price", rows)
    out = tmp_path / "stores"
    result = run_cli("train", "forecast", data, "--out", out, "--id-column", "store", "--target", "sales",
                     "--covariate", "price", "--valid-fraction", "0.2", "--horizon", "6", "--model", "ar-rnn",
                     "--json", *TINY)
    assert result.exit_code == 0, result.stderr
    valid = json.loads(result.stdout.strip().splitlines()[-1])["valid"]
    assert valid["series"] == 2 and valid["held_out"] == 12  # ceil(0.2 x 60 / 6) = 2 horizons
    layout = json.loads((out / "run.json").read_text())["forecast"]
    assert layout["series"] == ["north/sales", "south/sales"] and len(layout["loc"][0]) == 2  # sales and price
    rows = json.loads(run_cli("forecast", out, "--json", "--horizon", "2").stdout)
    assert [(r["series"], r["time"]) for r in rows] == [("north/sales", "2005-01"), ("north/sales", "2005-02"),
                                                       ("south/sales", "2005-01"), ("south/sales", "2005-02")]
    assert rows[2]["forecast"] > rows[0]["forecast"] + 20  # the south store sits 50 higher


def test_tune_searches_a_forecast_space(tmp_path):
    """`textrnn tune` takes any registered task: trials are forecast runs ranked by valid_mase
    (lower is better). (Tuning chooses on the held-out tail: score the winner on later data.)"""
    data = seasonal_csv(tmp_path / "sales.csv", n=60)
    space = tmp_path / "space.toml"
    space.write_text(f'task = "forecast"\n[fixed]\ndata = "{data}"\nhorizon = 6\nmax_steps = 10\nthreads = 1\n'
                     '[search]\nhidden_size = {choice = [4, 8]}\n')
    result = run_cli("tune", space, "--out", tmp_path / "study", "--trials", "2", "--sampler", "grid")
    assert result.exit_code == 0, result.stderr
    assert "valid_mase" in result.stdout
    best = (tmp_path / "study" / "best.toml").read_text()
    assert "horizon = 6" in best and "hidden_size" in best
