"""Backtests: forecast the held-out tail of every series and score it beside the baselines."""

from __future__ import annotations

import numpy as np

from .dataset import Split
from .metrics import BASELINES, baseline, ratio, score
from .windows import denormalise_target, predict

INTERVALS = (80, 95)


def origins(split: Split) -> list[tuple[int, int]]:
    """(series index, origin) of every held-out horizon: the origins step by the horizon."""
    horizon = split.layout.horizon
    return [(i, n + k) for i, n in enumerate(split.train_lengths) for k in range(0, split.valid_length, horizon)]


def backtest(model, split: Split, *, samples: int = 0, seed: int = 0, device="cpu") -> list[dict]:
    """One item per (series, origin): truth, training values, MASE scale, the model's
    forecast (with intervals when ``samples``) and each baseline's, all in data units."""
    import torch

    layout, rows = split.layout, origins(split)
    normalised = [split.normalised(i) for i in range(len(split.series))]
    history = [normalised[i][:origin] for i, origin in rows]
    next_ordinals = [split.series[i].start + origin + np.arange(layout.horizon) for i, origin in rows]
    generator = torch.Generator(device=device).manual_seed(seed) if samples else None
    was_training = model.training
    model.eval()
    try:
        point, drawn = predict(model, history, next_ordinals, layout, layout.horizon, samples=samples,
                               generator=generator, device=device)
    finally:
        model.train(was_training)
    scales = split.mase_scales()
    items = []
    for r, (i, origin) in enumerate(rows):
        s = split.series[i]
        filled = s.values[:origin] if not np.isnan(s.values[:origin]).any() else _filled(s.values[:origin])
        item = {"series": s.name, "origin": origin, "truth": s.values[origin:origin + layout.horizon],
                "train": s.values[:split.train_lengths[i]], "scale": scales[i],
                "forecast": denormalise_target(point[r], layout, i)}
        if drawn is not None:
            paths = denormalise_target(drawn[r], layout, i)  # (samples, H)
            item["forecast_intervals"] = intervals(paths)
        for name in BASELINES:
            item[name] = baseline(name, filled, layout.horizon, layout.season)
        items.append(item)
    return items


def _filled(values: np.ndarray) -> np.ndarray:
    from .data import interpolated

    return interpolated(values)


def intervals(paths: np.ndarray) -> dict[str, np.ndarray]:
    """Central intervals of sample paths (samples, H): lower/upper 80 % and 95 %."""
    result = {}
    for level in INTERVALS:
        tail = (1 - level / 100) / 2
        result[f"lower_{level}"] = np.quantile(paths, tail, axis=0)
        result[f"upper_{level}"] = np.quantile(paths, 1 - tail, axis=0)
    return result


def report(items: list[dict]) -> dict:
    """The model's metrics and each baseline's, plus MASE ratios to the baselines."""
    result = {"model": score(items)}
    for name in BASELINES:
        result[name] = score(items, name)
    for name in BASELINES:
        result[f"mase_vs_{name}"] = ratio(result["model"]["mase"], result[name]["mase"])
    return result
