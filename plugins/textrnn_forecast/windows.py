"""From series to model inputs and back: scaling, calendar features, windows, forecasts.

Two normalisations, in this order (both undone on the way out):

1. **Per series**, fitted on the training span only and stored in the run: each channel
   (target, covariates) minus its training mean, divided by its training standard
   deviation, so one global model sees every series in the same units.
2. **Per window**, the level: each channel minus its mean over the last
   ``max(season, 3)`` context steps. The model forecasts the change from the recent
   (deseasonalised) level, which transfers across a trend the training span never
   reached (AirPassengers' 1960 peak is above every training value). This is the
   per-window scaling of DeepAR (Salinas et al. 2020) and RevIN (Kim et al. 2022), by
   subtraction; without it the held-out MASE on the check series was 2-3x worse.

Calendar features: sin and cos of the position within the frequency's season (month of
year, day of week, hour of day, week of year), known for every future step. None for
yearly data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .data import FREQUENCIES, Series, interpolated

MIN_LEVEL_WINDOW = 3


@dataclass
class Layout:
    """How values become model inputs; stored in ``run.json`` under ``"forecast"``."""

    frequency: str
    season: int
    horizon: int
    context_length: int
    calendar: bool
    series: list[str]  # names, in order
    loc: list[list[float]]  # per series, per channel (target first)
    scale: list[list[float]]
    target_column: list[str]
    covariates: list[str]

    @property
    def level_window(self) -> int:
        return min(max(self.season, MIN_LEVEL_WINDOW), self.context_length)

    @property
    def calendar_season(self) -> int:
        return FREQUENCIES[self.frequency][1] if self.calendar else 1

    @property
    def known_channels(self) -> int:
        return 2 if self.calendar_season > 1 else 0

    @property
    def series_channels(self) -> int:
        return 1 + len(self.covariates)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Layout":
        return cls(**data)


def channels(s: Series) -> np.ndarray:
    """(T, S) raw channels of a series: the target (NaNs filled) then its covariates."""
    return np.concatenate([interpolated(s.values)[:, None], s.covariates], axis=1)


def fit_scaling(train: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of each channel of a training span (T, S); a constant
    channel gets scale 1 so it stays finite."""
    loc = train.mean(axis=0)
    scale = train.std(axis=0)
    scale = np.where(scale > 1e-8 * np.maximum(np.abs(loc), 1.0), scale, 1.0)
    return loc.tolist(), scale.tolist()


def normalise(raw: np.ndarray, layout: Layout, index: int) -> np.ndarray:
    return (raw - np.asarray(layout.loc[index])) / np.asarray(layout.scale[index])


def denormalise_target(values: np.ndarray, layout: Layout, index: int) -> np.ndarray:
    return values * layout.scale[index][0] + layout.loc[index][0]


def known_features(ordinals: np.ndarray, layout: Layout) -> np.ndarray:
    """(T, K) calendar features of period ordinals."""
    period = layout.calendar_season
    if period <= 1:
        return np.zeros((len(ordinals), 0))
    phase = 2 * np.pi * (np.asarray(ordinals) % period) / period
    return np.stack([np.sin(phase), np.cos(phase)], axis=1)


class WindowSampler:
    """Training windows of ``context_length + horizon`` steps inside the training spans.

    All spans live in one flat array; window ``i`` starts at ``starts[i]``. A batch is a
    pure function of (seed, step), so a resumed run draws exactly the batches it would
    have drawn.
    """

    def __init__(self, spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]], layout: Layout, seed: int):
        """``spans``: per series, (normalised channels (T, S), target with NaN where masked (T,),
        calendar features (T, K))."""
        self.layout, self.seed = layout, seed
        width = layout.context_length + layout.horizon
        self.values = np.concatenate([s[0] for s in spans]).astype(np.float32)
        self.target = np.concatenate([s[1] for s in spans]).astype(np.float32)
        self.known = np.concatenate([s[2] for s in spans]).astype(np.float32)
        starts, offset = [], 0
        for channels_, _, _ in spans:
            starts.append(offset + np.arange(max(len(channels_) - width + 1, 0)))
            offset += len(channels_)
        self.starts = np.concatenate(starts)
        self.offsets = np.arange(width)

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, step: int, size: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, step])
        rows = self.starts[rng.integers(len(self.starts), size=size)][:, None] + self.offsets  # (B, C + H)
        return make_inputs(self.values[rows], self.known[rows], self.layout, target=self.target[rows])


def make_inputs(values: np.ndarray, known: np.ndarray, layout: Layout, target: np.ndarray | None = None) -> dict:
    """Model inputs of windows (B, C [+ H], S): context minus its level, known features,
    and, when the windows extend over the horizon, the level-free truth."""
    context = layout.context_length
    past = values[:, :context]  # (B, C, S)
    level = past[:, -layout.level_window:].mean(axis=1, keepdims=True)  # (B, 1, S)
    batch = {"past": np.concatenate([past - level, known[:, :context]], axis=2),  # (B, C, S + K)
             "future_known": known[:, context:context + layout.horizon] if known.shape[1] > context
             else np.zeros((len(values), layout.horizon, known.shape[2]), np.float32),
             "level": level}
    if target is not None:
        batch["future"] = values[:, context:] - level  # (B, H, S)
        truth = target[:, context:] - level[..., 0]  # (B, H): NaN where masked
        batch["target"] = truth
    return batch


def to_tensors(batch: dict, device) -> dict:
    import torch

    return {k: torch.as_tensor(np.asarray(v, dtype=np.float32), device=device) for k, v in batch.items()}


def predict(model, history: list[np.ndarray], next_ordinals: list[np.ndarray], layout: Layout, steps: int, *,
            samples: int = 0, generator=None, device="cpu") -> tuple[np.ndarray, np.ndarray | None]:
    """Forecast ``steps`` values after each normalised history (T_i, S).

    Longer than the model's horizon, the forecast continues in chunks, each reading the
    previous chunks' point forecasts (sample paths read their own draws). Returns the
    normalised target forecasts (N, steps) and, with ``samples``, draws (N, samples, steps).
    """
    import torch

    from .models import split_output

    rows = len(history)
    context = np.stack([h[-layout.context_length:] for h in history]).astype(np.float32)  # (N, C, S)
    ordinals = [np.concatenate([o[0] - layout.context_length + np.arange(layout.context_length), o])
                for o in next_ordinals]
    known = np.stack([known_features(o, layout) for o in ordinals]).astype(np.float32)  # (N, C + steps, K)
    paths = [context] if not samples else [context, np.repeat(context, samples, axis=0)]
    outputs = []
    with torch.no_grad():
        for k, values in enumerate(paths):
            reps = 1 if k == 0 else samples
            known_rows = np.repeat(known, reps, axis=0)
            produced = 0
            while produced < steps:
                window_known = known_rows[:, produced:produced + layout.context_length + layout.horizon]
                if window_known.shape[1] < layout.context_length + layout.horizon:  # pad the last chunk's calendar
                    extra = layout.context_length + layout.horizon - window_known.shape[1]
                    window_known = np.concatenate([window_known, np.repeat(window_known[:, -1:], extra, 1)], 1)
                batch = to_tensors(make_inputs(values[:, -layout.context_length:], window_known, layout), device)
                if k == 0:
                    mean, _ = split_output(model(batch["past"], batch["future_known"]), layout.series_channels)
                    chunk = mean
                else:
                    chunk = draw(model, batch, layout, generator)
                chunk = chunk.float().cpu().numpy() + batch["level"].cpu().numpy()  # (rows, H, S)
                values = np.concatenate([values, chunk], axis=1)
                produced += layout.horizon
            outputs.append(values[:, layout.context_length:layout.context_length + steps, 0])
    point = outputs[0]
    drawn = outputs[1].reshape(samples, rows, steps).transpose(1, 0, 2) if samples else None
    return point, drawn


def draw(model, batch: dict, layout: Layout, generator):
    """One sampled chunk per row: sample paths for the autoregressive model, independent
    Gaussian draws per step for the direct one."""
    import torch

    from .models import split_output

    if hasattr(model, "sample_paths"):
        return model.sample_paths(batch["past"], batch["future_known"], 1, generator=generator)[0]
    mean, std = split_output(model(batch["past"], batch["future_known"]), layout.series_channels)
    if std is None:
        return mean
    return mean + std * torch.randn(mean.shape, generator=generator, device=mean.device)
