"""Small tables of series for the forecast tests, written as CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

AIRPASSENGERS = Path(__file__).resolve().parents[2] / "corpora" / "airpassengers" / "airpassengers.csv"
SHARED_NILE = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "nile" / "nile.csv"


def monthly_rows(values, start_year: int = 2000) -> list[str]:
    return [f"{start_year + i // 12}-{i % 12 + 1:02d},{v}" for i, v in enumerate(values)]


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def seasonal(n: int = 96, seed: int = 0, noise: float = 0.5) -> np.ndarray:
    """A monthly series: level 100, trend 0.5 a month, a yearly cycle of amplitude 10."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return np.round(100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, noise, n), 3)


def seasonal_csv(path: Path, n: int = 96, seed: int = 0) -> Path:
    return write_csv(path, "month,sales", monthly_rows(seasonal(n, seed)))
