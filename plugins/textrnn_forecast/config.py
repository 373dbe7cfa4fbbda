"""The options of a forecasting run (stored as ``config.json``): data, split, model, loss.

The shared loop options come from :class:`textrnn.training.config_base.BaseTrainConfig`;
this class gives some of them forecasting defaults (a fixed 400-step run, which takes a
few seconds on a CPU for series of a few hundred values) and adds its own. Options left
None follow the data and are resolved in :meth:`ForecastTask.prepare`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from textrnn.training.config_base import RESUMABLE, BaseTrainConfig, need

from .frequencies import FREQUENCIES

LOSSES = ("mse", "mae", "gaussian")
MISSING = ("interpolate", "mask")
DEFAULT_MODEL = "block-rnn"


@dataclass
class ForecastConfig(BaseTrainConfig):
    """Everything that defines a forecasting run.

    :ivar data: CSV/TSV/Parquet file or ``datasets`` folder; None is the embedded AirPassengers.
    :ivar time_column: column of dates (or integer years); None is the first column not named as id, target or covariate.
    :ivar target: columns to forecast, each a series; empty is every numeric column left.
    :ivar covariates: past covariates: read over the context, never needed ahead.
    :ivar id_column: column naming the series of a stacked table (one global model).
    :ivar frequency: hourly, daily, weekly, monthly, quarterly or yearly; None infers it.
    :ivar season: seasonal period for MASE, the seasonal-naive baseline and the context;
        None takes the frequency's (12 monthly, 7 daily, 24 hourly, 52 weekly, 4, 1 yearly).
    :ivar horizon: steps forecast at once and held out; None takes the frequency's default.
    :ivar valid_fraction: hold out this share of each series instead (whole horizons,
        scored from successive origins); None holds out one horizon.
    :ivar context_length: steps the model reads before forecasting; None is
        ``max(2 * season, horizon, 8)``, shortened to what the shortest series allows.
    """

    resumable: ClassVar[frozenset[str]] = RESUMABLE | {"threads"}

    data: str | None = None
    time_column: str | None = None
    target: list[str] = field(default_factory=list)
    covariates: list[str] = field(default_factory=list)
    id_column: str | None = None
    frequency: str | None = None
    season: int | None = None
    horizon: int | None = None
    valid_fraction: float | None = None
    missing: str = "interpolate"
    context_length: int | None = None
    calendar: bool = True  # sin/cos of the position in the season as known inputs
    model: str = DEFAULT_MODEL
    model_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "mse"
    samples: int = 200  # sample paths drawn for intervals (gaussian loss)
    batch_size: int = 32
    lr: float | None = 3e-3
    max_steps: int | None = 400
    eval_every: int | None = 100
    threads: int | None = None

    def validate(self) -> None:
        super().validate()
        need(self.horizon is None or (isinstance(self.horizon, int) and self.horizon >= 1),
             f"horizon must be at least 1, got {self.horizon}")
        need(self.season is None or self.season >= 1, f"season must be at least 1, got {self.season}")
        need(self.frequency is None or self.frequency in FREQUENCIES,
             f"frequency must be one of {', '.join(FREQUENCIES)}, got {self.frequency!r}")
        need(self.valid_fraction is None or 0.0 < self.valid_fraction < 1.0,
             f"valid_fraction must be in (0, 1), got {self.valid_fraction}")
        need(self.missing in MISSING, f"missing must be one of {', '.join(MISSING)}, got {self.missing!r}")
        need(self.context_length is None or self.context_length >= 2,
             f"context_length must be at least 2, got {self.context_length}")
        need(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        need(self.samples >= 10, f"samples must be at least 10, got {self.samples}")
        need(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        need(self.threads is None or self.threads >= 1, f"threads must be at least 1, got {self.threads}")
        overlap = set(self.target) & set(self.covariates)
        need(not overlap, f"a column cannot be both target and covariate: {', '.join(sorted(overlap))}")
