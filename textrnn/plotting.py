"""Training curves of one or more runs in one image, drawn from their metrics.jsonl.

Panels: loss against steps, loss against wall time, the learning rate, and validation
bits per character (language models) and/or validation accuracy (classifiers). Each
run has one colour; training loss is a solid line, validation loss dashed with dots.
matplotlib is imported only here, and only when a plot is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError, RunError, TextrnnError
from .runs import read_metrics
from .training import run_dir as rd

EXTRA_PANELS = {  # metric -> (task that logs it, axis label)
    "valid_bpc": ("lm", "validation bits/char"),
    "valid_accuracy": ("classifier", "validation accuracy"),
}


def plot_runs(run_dirs: list[str | Path], out: str | Path, *, width: float = 12.0, height: float = 8.0,
              dpi: int = 100) -> Path:
    """Draw the curves of ``run_dirs`` into the image file ``out`` (format from its suffix).

    The image is ``width`` x ``height`` inches at ``dpi`` pixels per inch.
    """
    if not run_dirs:
        raise ConfigError("give at least one run directory to plot")
    figure_cls = _matplotlib()
    runs = [_load(Path(p)) for p in run_dirs]
    for run, label in zip(runs, unique_labels([r["path"] for r in runs])):
        run["label"] = label
    tasks = {r["task"] for r in runs}
    extras = [metric for metric, (task, _) in EXTRA_PANELS.items()
              if task in tasks and any(_series(r, "eval", metric)[0] for r in runs)]

    fig = figure_cls(figsize=(width, height), dpi=dpi, layout="constrained")
    out = Path(out)
    formats = fig.canvas.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in formats:
        suffixes = ", ".join("." + f for f in sorted(formats))
        raise ConfigError(f"cannot write {out}: pick a file ending in one of {suffixes}")
    panels = 3 + len(extras)
    columns = (panels + 1) // 2
    axes = [fig.add_subplot(2, columns, i + 1) for i in range(panels)]
    ax_step, ax_time, ax_lr, *ax_extra = axes
    loss_label = _loss_label(tasks)

    colours = [f"C{i % 10}" for i in range(len(runs))]
    for run, colour in zip(runs, colours):
        for kind, metric, style in (("train", "loss", dict(linestyle="-")),
                                    ("eval", "valid_loss", dict(linestyle="--", marker="o", markersize=3))):
            steps, values = _series(run, kind, metric)
            times, timed = _series(run, kind, metric, x="time")
            ax_step.plot(steps, values, color=colour, **style)
            ax_time.plot(times, timed, color=colour, **style)
        ax_lr.plot(*_series(run, "train", "lr"), color=colour)
        for ax, metric in zip(ax_extra, extras):
            ax.plot(*_series(run, "eval", metric), color=colour, linestyle="--", marker="o", markersize=3)

    ax_step.set(title="loss by step", xlabel="step (optimizer updates)", ylabel=loss_label)
    ax_time.set(title="loss by wall time", xlabel="wall time (s)", ylabel=loss_label)
    ax_lr.set(title="learning rate", xlabel="step (optimizer updates)", ylabel="learning rate")
    for ax, metric in zip(ax_extra, extras):
        ax.set(title=EXTRA_PANELS[metric][1], xlabel="step (optimizer updates)", ylabel=EXTRA_PANELS[metric][1])
    for ax in axes:
        ax.grid(True, alpha=0.3)

    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, label=r["label"]) for r, c in zip(runs, colours)]
    handles += [Line2D([], [], color="black", linestyle="-", label="train"),
                Line2D([], [], color="black", linestyle="--", marker="o", markersize=3, label="validation")]
    ax_step.legend(handles=handles, fontsize="small")
    try:
        fig.savefig(out)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def unique_labels(paths: list[Path]) -> list[str]:
    """The shortest trailing parts of each path that tell the runs apart (run dir names if they do)."""
    parts = [Path(p).resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [str(p) for p in paths]


def _matplotlib():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise TextrnnError("plotting needs matplotlib, which is not installed; install it with: "
                           "pip install matplotlib (or pip install 'textrnn[plot]')") from None
    # Figure without pyplot draws with the Agg renderer: no display, no global state.
    return Figure


def _load(path: Path) -> dict[str, Any]:
    meta = rd.read_run_meta(path)
    records = read_metrics(path)
    if not records:
        raise RunError(f"{path} has no metrics yet ({rd.METRICS_FILE} is empty or missing)")
    return {"path": path, "task": meta.get("task"), "records": records}


def _series(run: dict, kind: str, metric: str, x: str = "step") -> tuple[list, list]:
    rows = [r for r in run["records"] if r.get("kind") == kind
            and isinstance(r.get(metric), (int, float)) and isinstance(r.get(x), (int, float))]
    return [r[x] for r in rows], [r[metric] for r in rows]


def _loss_label(tasks: set) -> str:
    if tasks == {"lm"}:
        return "loss (nats/token)"
    if tasks == {"classifier"}:
        return "loss (nats/text)"
    return "loss (nats; LM: per token, classifier: per text)"
