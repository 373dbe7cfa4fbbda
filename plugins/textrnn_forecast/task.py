"""The ``forecast`` task: what the one training loop calls to train a forecaster.

Batches are random training windows, a pure function of (seed, step), so resuming needs
no task state. Evaluation forecasts the held-out tail (see :mod:`.scoring`).

Checkpoint choice: the held-out tail is the test. Picking the checkpoint that scores
best on it would report a number chosen on the test, so :meth:`improved` always accepts
the newest evaluation: the "best" checkpoint is the last one, and ``valid_mase`` is only
watched. The training length is fixed in advance (``max_steps``).
"""

from __future__ import annotations

import math

import numpy as np

from textrnn.training.task import RunContext, Task

from .dataset import load_series, make_split
from .metrics import ratio
from .scoring import backtest, report
from .windows import Layout, WindowSampler, known_features

MONITOR = "valid_mase"


class ForecastTask(Task):
    """Train an LSTM/GRU forecaster on windows of one or more series."""

    name = "forecast"
    monitor = MONITOR
    monitor_mode = "min"

    def prepare(self, ctx: RunContext) -> None:
        import torch

        from textrnn.registry import get_model

        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = ctx.device
        table, missing_report = load_series(cfg)
        stored = ctx.stored_meta.get("forecast") if ctx.resuming else None
        self.split = make_split(cfg, table, Layout.from_dict(stored) if stored else None)
        layout = self.split.layout
        spans = []
        for i, (s, n) in enumerate(zip(self.split.series, self.split.train_lengths)):
            values = self.split.normalised(i)[:n]
            target = values[:, 0].copy()
            if cfg.missing == "mask":
                target[np.isnan(s.values[:n])] = np.nan
            spans.append((values, target, known_features(s.ordinals[:n], layout)))
        self.sampler = WindowSampler(spans, layout, cfg.seed)
        info = get_model(cfg.model, task="forecast")
        options = info.make_options({**cfg.model_options, "series_channels": layout.series_channels,
                                     "known_channels": layout.known_channels, "horizon": layout.horizon,
                                     "distribution": "gaussian" if cfg.loss == "gaussian" else "none"})
        self.model = info.factory(0, options)
        self.baselines = report(backtest(_Zero(layout), self.split))  # the baselines' numbers, once
        for note in table.notes + [missing_report]:
            ctx.message(note)
        ctx.message(f"season {layout.season}, horizon {layout.horizon}, context {layout.context_length}, "
                    f"{len(self.sampler):,} training windows, {self.split.valid_length} held-out steps per series")
        self.run_fields = {
            "model": cfg.model, "plugin": info.plugin, "model_options": {**options.__dict__}, "vocab_size": 0,
            "forecast": layout.to_dict(), "data": str(table.source), "missing": missing_report,
            "valid_length": self.split.valid_length, "train_lengths": self.split.train_lengths,
        }

    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.sampler) / self.config.batch_size))

    def start_fields(self) -> dict:
        layout = self.split.layout
        return {"series": len(layout.series), "train_windows": len(self.sampler), "horizon": layout.horizon,
                "season": layout.season, "frequency": layout.frequency, "context_length": layout.context_length}

    def next_batch(self, step: int):
        from .windows import to_tensors

        return to_tensors(self.sampler.batch(step, self.config.batch_size), self.device)

    def loss(self, model, batch):
        return forecast_loss(model, batch, self.config.loss)

    def evaluate(self, model, step: int) -> dict[str, float]:
        import torch

        samples = self.config.samples if self.config.loss == "gaussian" else 0
        items = backtest(model, self.split, samples=samples, seed=self.config.seed, device=self.device)
        metrics = report(items)["model"]
        with torch.no_grad():
            valid_loss = _normalised_mse(items, self.split.layout)
        return {"valid_loss": valid_loss, **{f"valid_{k}": v for k, v in metrics.items()}}

    def improved(self, new: dict[str, float], best: dict[str, float] | None) -> bool:
        return math.isfinite(new[MONITOR])  # the newest, never chosen on the held-out tail

    def summary(self, best: dict[str, float] | None, step: int) -> dict:
        result = super().summary(best, step)
        result["baselines"] = {k: v for k, v in self.baselines.items() if k != "model" and "_vs_" not in k}
        if best:
            for name in ("seasonal_naive", "naive", "drift"):
                result[f"mase_vs_{name}"] = ratio(best[MONITOR], self.baselines[name]["mase"])
        return result


def forecast_loss(model, batch, loss: str):
    """MSE, MAE or Gaussian negative log-likelihood over the horizon (normalised units).

    Covariate channels are forecast too (the autoregressive model feeds them back), with
    the target; masked targets (NaN) are left out.
    """
    import torch

    from .models import split_output

    channels = batch["future"].shape[-1]
    teacher = batch["future"] if getattr(_unwrap(model), "teacher_forcing", False) else None
    mean, std = split_output(model(batch["past"], batch["future_known"], teacher), channels)
    truth = batch["future"].clone()
    truth[..., 0] = batch["target"]
    keep = ~torch.isnan(truth)
    truth = torch.where(keep, truth, mean.detach())
    if loss == "gaussian":
        terms = -torch.distributions.Normal(mean.float(), std.float()).log_prob(truth.float())
    elif loss == "mae":
        terms = (mean - truth).abs()
    else:
        terms = (mean - truth) ** 2
    return (terms * keep).sum() / keep.sum().clamp(min=1)


def _unwrap(model):
    return getattr(model, "module", model)


def _normalised_mse(items: list[dict], layout: Layout) -> float:
    """Mean squared error of the held-out target in per-series standard deviations."""
    scale = {name: s[0] for name, s in zip(layout.series, layout.scale)}
    errors = [((it["forecast"] - it["truth"]) / scale[it["series"]]) ** 2 for it in items]
    joined = np.concatenate(errors)
    return float(np.nanmean(joined))


class _Zero:
    """A stand-in model that forecasts no change from the level (for the baselines' pass)."""

    training = False

    def __init__(self, layout: Layout):
        self.layout = layout

    def __call__(self, past, future_known, future_values=None):
        import torch

        return torch.zeros(past.shape[0], self.layout.horizon, self.layout.series_channels)

    def eval(self):
        return self

    def train(self, mode=True):
        return self
