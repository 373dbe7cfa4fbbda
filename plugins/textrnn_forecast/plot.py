"""One PNG of forecasts: history, held-out truth, forecast and its 80 %/95 % bands.

One panel per series (the first :data:`MAX_PANELS`); drawn with textrnn's plotting helper
(matplotlib's ``Figure`` without pyplot, imported only here, an optional dependency).
"""

from __future__ import annotations

from pathlib import Path

from textrnn.errors import ConfigError

MAX_PANELS = 6
HISTORY_SHOWN = 120  # steps of history before the forecast drawn in each panel


def check_target(out: str | Path) -> Path:
    """``out`` names an image format matplotlib writes (checked before any work is done)."""
    from textrnn.plotting import _matplotlib

    out = Path(out)
    formats = _matplotlib()().canvas.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in formats:
        raise ConfigError(f"cannot write {out}: pick a file ending in one of {', '.join('.' + f for f in sorted(formats))}")
    return out


def plot_forecasts(forecasts, frequency: str, out: str | Path, title: str = "") -> Path:
    """Draw ``forecasts`` (:class:`~.forecasting.SeriesForecast`) into the image ``out``."""
    import pandas as pd

    from textrnn.plotting import _matplotlib

    from .data import FREQUENCIES

    figure_cls = _matplotlib()
    shown = forecasts[:MAX_PANELS]
    out = check_target(out)
    fig = figure_cls(figsize=(10, 3.2 * len(shown)), dpi=100, layout="constrained")
    code = FREQUENCIES[frequency][0]

    def times(ordinals):
        return pd.PeriodIndex.from_ordinals(ordinals, freq=code).to_timestamp()

    for k, f in enumerate(shown):
        ax = fig.add_subplot(len(shown), 1, k + 1)
        ax.plot(times(f.history_ordinals[-HISTORY_SHOWN:]), f.history[-HISTORY_SHOWN:], color="black", label="history")
        future = times(f.ordinals)
        if f.truth is not None:
            ax.plot(future, f.truth, color="black", linestyle="--", marker="o", markersize=2, label="held-out truth")
        if f.intervals:
            ax.fill_between(future, f.intervals["lower_95"], f.intervals["upper_95"], color="C0", alpha=0.15,
                            label="95 % interval")
            ax.fill_between(future, f.intervals["lower_80"], f.intervals["upper_80"], color="C0", alpha=0.3,
                            label="80 % interval")
        ax.plot(future, f.forecast, color="C0", marker="o", markersize=2, label="forecast")
        ax.set(title=f"{title} {f.name}".strip(), ylabel=f.name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
    try:
        fig.savefig(out)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
