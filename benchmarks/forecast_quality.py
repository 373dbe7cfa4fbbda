"""Forecast quality: textrnn's forecaster beside seasonal naive, naive and drift, same split, same run.

    python benchmarks/forecast_quality.py [--cases airpassengers,nile,coverage,synthetic] [--seeds 5]

Every case trains through the real command line, ``textrnn train forecast DATA --out RUN
--horizon H --seed S --json`` with no other option unless the case says so, on the CPU,
and reads the held-out report the command prints: the model's MAE, RMSE, sMAPE and MASE
and the same metrics of the three baselines, computed in that run on the same held-out
steps. One JSON line per case and seed, then a summary line per case with the mean over
seeds and the ratio ``model MASE / baseline MASE`` (below 1: the model is better).

Cases:

* ``airpassengers``: the embedded AirPassengers (no DATA: the default), last 12, 24 and 36
  months held out (issue 19: MASE at most 1.2 on the last 12, seasonal naive 1.571).
* ``nile``: ../shared/corpora/nile, last 10 years held out (no season: MASE below naive's).
* ``coverage``: AirPassengers, last 12 months, ``--loss gaussian``: 80 % and 95 % interval
  coverage (nominal 80 and 95).
* ``synthetic``: series this script writes (additive and multiplicative monthly seasonality
  with trend, weekly-seasonal daily data, daily-seasonal hourly data, AR(1) yearly noise),
  seeded, to check that the defaults are not tuned to the two named series.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TEXTRNN_SHARED", REPO.parent / "shared"))
NILE = SHARED / "corpora" / "nile" / "nile.csv"
METRICS = ("mae", "rmse", "smape", "mase", "coverage_80", "coverage_95")


def synthetic(folder: Path) -> list[tuple[str, Path, list[str]]]:
    """Seeded synthetic series as CSV files: (name, path, extra flags)."""
    import pandas as pd

    rng = np.random.default_rng(2026)
    made = []

    def write(name, values, freq, start):
        stamps = pd.period_range(start, periods=len(values), freq=freq).to_timestamp()
        path = folder / f"{name}.csv"
        pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M"), "value": np.round(values, 3)}).to_csv(path, index=False)
        made.append((name, path, []))

    t = np.arange(144)
    write("additive-monthly", 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + 5 * np.cos(4 * np.pi * t / 12)
          + rng.normal(0, 3, t.size), "M", "2000-01")
    write("multiplicative-monthly", (50 + t) * (1 + 0.25 * np.sin(2 * np.pi * t / 12)) * np.exp(rng.normal(0, 0.03, t.size)),
          "M", "2000-01")
    t = np.arange(400)
    write("weekday-daily", 50 + 8 * (t % 7 >= 5) + 0.02 * t + rng.normal(0, 2, t.size), "D", "2020-01-01")
    t = np.arange(24 * 30)
    write("hourly", 100 + 30 * np.sin(2 * np.pi * (t % 24) / 24) + 10 * np.sin(2 * np.pi * t / (24 * 7))
          + rng.normal(0, 5, t.size), "h", "2021-03-01 00:00")
    ar = np.zeros(100)
    for i in range(1, ar.size):
        ar[i] = 0.8 * ar[i - 1] + rng.normal(0, 10)
    write("ar1-yearly", 500 + ar, "Y", "1900")
    return made


def train(data: Path | None, flags: list[str], seed: int, work: Path) -> dict:
    out = work / f"run-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "textrnn", "train", "forecast", *([str(data)] if data else []), "--out", str(out),
           "--seed", str(seed), "--device", "cpu", "--json", *flags]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])["valid"]
    result["wall_s"] = round(time.monotonic() - started, 1)
    return result


def row(case: str, seed: int, result: dict) -> dict:
    line = {"case": case, "seed": seed, "wall_s": result["wall_s"]}
    for name in ("model", "seasonal_naive", "naive", "drift"):
        line[name] = {k: round(result[name][k], 3) for k in METRICS if k in result[name]}
    line["mase_ratio_vs_seasonal_naive"] = round(result["mase_vs_seasonal_naive"], 3)
    line["mase_ratio_vs_naive"] = round(result["mase_vs_naive"], 3)
    return line


def summarise(case: str, lines: list[dict]) -> dict:
    mean = {k: round(float(np.mean([line["model"][k] for line in lines])), 3) for k in lines[0]["model"]}
    spread = {f"{k}_min_max": [min(line["model"][k] for line in lines), max(line["model"][k] for line in lines)]
              for k in ("mase",)}
    baselines = {b: lines[0][b] for b in ("seasonal_naive", "naive", "drift")}  # the same every seed
    return {"case": case, "seeds": len(lines), "model_mean": mean, **spread, **baselines,
            "mase_ratio_vs_seasonal_naive": round(mean["mase"] / baselines["seasonal_naive"]["mase"], 3),
            "mase_ratio_vs_naive": round(mean["mase"] / baselines["naive"]["mase"], 3),
            "max_wall_s": max(line["wall_s"] for line in lines)}


def run_case(case: str, data: Path | None, flags: list[str], seeds: list[int], work: Path) -> None:
    lines = []
    for seed in seeds:
        lines.append(row(case, seed, train(data, flags, seed, work)))
        print(json.dumps(lines[-1]), flush=True)
    print(json.dumps({"summary": summarise(case, lines)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="airpassengers,nile,coverage,synthetic")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per case (1337, 1338, ...)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    args = parser.parse_args()
    seeds = [1337 + i for i in range(args.seeds)]
    threads = ["--threads", str(args.threads)]
    with tempfile.TemporaryDirectory(prefix="forecast-quality-") as tmp:
        work = Path(tmp)
        for case in args.cases.split(","):
            if case == "airpassengers":
                for horizon in (12, 24, 36):
                    run_case(f"airpassengers-last{horizon}", None, ["--horizon", str(horizon), *threads], seeds, work)
            elif case == "nile":
                if not NILE.is_file():
                    print(json.dumps({"case": "nile", "skipped": f"{NILE} is absent"}))
                    continue
                run_case("nile-last10", NILE, ["--horizon", "10", *threads], seeds, work)
            elif case == "coverage":
                run_case("airpassengers-last12-gaussian", None, ["--horizon", "12", "--loss", "gaussian", *threads],
                         seeds, work)
            elif case == "synthetic":
                for name, path, flags in synthetic(work):
                    run_case(f"synthetic-{name}", path, [*flags, *threads], seeds, work)
            else:
                raise SystemExit(f"unknown case {case!r}")


if __name__ == "__main__":
    main()
