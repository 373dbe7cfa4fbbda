"""Time-series forecasting as a task plugin: ``textrnn train forecast``, ``textrnn forecast``.

A first-party plugin that adds a whole task through the same hooks a third party would
use: the task (``register_tasks``), its two models (``register_models`` with
``task="forecast"``) and the ``forecast`` command (``register_commands``).

Models (``--model``), both with ``--model-option cell=gru|lstm``:

* ``block-rnn`` (default): an encoder reads the context; a linear head emits the whole
  horizon at once (Darts ``BlockRNNModel``).
* ``ar-rnn``: forecasts one step, feeds its prediction back (Darts ``RNNModel``; with
  ``--loss gaussian`` it is DeepAR, whose sampled paths give the intervals).

The factories ignore ``vocab_size`` (run.json stores 0): a forecaster's widths come from
its options, which the task fills from the data (channels, calendar features, horizon)
and run.json keeps under ``model_options``.

Nothing heavy is imported here: torch, pandas and matplotlib load inside the commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import textrnn

__version__ = textrnn.__version__

CELLS = ("gru", "lstm")
DISTRIBUTIONS = ("none", "gaussian")


@dataclass
class ForecasterOptions:
    """Hyperparameters of a recurrent forecaster.

    The defaults (GRU, 32 units, dropout 0.2) did best across AirPassengers, Nile and
    synthetic seasonal, multiplicative and AR(1) series in a small CPU sweep (see
    plugins/textrnn_forecast/README.md); larger models overfit series of a few hundred values.
    """

    cell: str = field(default="gru", metadata={"help": "recurrent cell: gru or lstm"})
    hidden_size: int = field(default=32, metadata={"help": "units per recurrent layer"})
    num_layers: int = field(default=1, metadata={"help": "stacked recurrent layers"})
    dropout: float = field(default=0.2, metadata={"help": "dropout between layers and before the output layer"})
    teacher_forcing: bool = field(default=True, metadata={
        "help": "ar-rnn: train on the true previous values (True) or on its own predictions (False)"})
    series_channels: int = field(default=1, metadata={"help": "target plus covariates (set by the task)"})
    known_channels: int = field(default=2, metadata={"help": "calendar features (set by the task)"})
    horizon: int = field(default=12, metadata={"help": "steps forecast at once (set by the task)"})
    distribution: str = field(default="none", metadata={"help": "none, or gaussian for --loss gaussian (set by the task)"})

    def __post_init__(self):
        for name in ("hidden_size", "num_layers", "series_channels", "horizon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer of at least 1, got {value!r}")
        if isinstance(self.known_channels, bool) or not isinstance(self.known_channels, int) or self.known_channels < 0:
            raise ValueError(f"known_channels must be an integer of at least 0, got {self.known_channels!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {self.distribution!r}")


def _build(kind: str, vocab_size: int, options: ForecasterOptions):
    from . import models

    cls = models.BlockForecaster if kind == "block" else models.AutoregressiveForecaster
    model = cls(options.series_channels, options.known_channels, options.horizon, cell=options.cell,
                hidden_size=options.hidden_size, num_layers=options.num_layers, dropout=options.dropout,
                distribution=options.distribution)
    model.teacher_forcing = kind == "ar" and options.teacher_forcing
    return model


def block_rnn(vocab_size: int, options: ForecasterOptions):
    """Encoder + direct multi-horizon head (``vocab_size`` is ignored)."""
    return _build("block", vocab_size, options)


def ar_rnn(vocab_size: int, options: ForecasterOptions):
    """Autoregressive forecaster (``vocab_size`` is ignored)."""
    return _build("ar", vocab_size, options)


def make_task(config):
    """The forecast task of ``config`` (imported here: registering stays light)."""
    from .task import ForecastTask

    return ForecastTask(config)


@textrnn.hookimpl
def register_models(register):
    register("block-rnn", block_rnn, task="forecast", options=ForecasterOptions,
             description="LSTM/GRU encoder with a direct multi-horizon head (Darts BlockRNNModel)")
    register("ar-rnn", ar_rnn, task="forecast", options=ForecasterOptions,
             description="autoregressive LSTM/GRU feeding back its own forecast (Darts RNNModel, DeepAR)")


@textrnn.hookimpl
def register_tasks(register):
    from .commands import add_train_command, evaluate_run, forecast_method
    from .config import ForecastConfig

    register("forecast", make_task, config=ForecastConfig,
             description="time-series forecasting with recurrent models, scored against seasonal naive",
             add_train_command=add_train_command, evaluate=evaluate_run, methods={"forecast": forecast_method},
             best_metric="valid_mase", higher_is_better=False)


@textrnn.hookimpl
def register_commands(cli):
    from .commands import add_forecast_command

    add_forecast_command(cli)
