"""What a study leaves for people: leaderboard rows, ``best.toml`` and ``params.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..config_files import write_config_toml
from ..training import run_dir as rd
from .space import SearchSpace
from .study import Study

_ORDER = {"finished": 0, "pruned": 1, "running": 2, "pending": 3, "failed": 4}


def leaderboard(study: Study, space: SearchSpace) -> list[dict[str, Any]]:
    """Every trial, best first: finished trials by metric, then pruned, unfinished and failed ones."""
    def key(trial):
        metric = trial["metric"]
        value = math.inf if metric is None else (metric if space.minimize else -metric)
        return (_ORDER.get(trial["status"], 5), value, trial["number"])

    rows = []
    for rank, trial in enumerate(sorted(study.trials, key=key), start=1):
        rows.append({"rank": rank, "trial": trial["name"], "number": trial["number"], "status": trial["status"],
                     "metric": trial["metric"], "params": trial["params"], "wall_time": trial["wall_time"],
                     "steps": trial["steps"], "pruned_at_step": trial["pruned_at_step"], "error": trial["error"],
                     "run_dir": str(study.run_dir(trial))})
    return rows


def best_trial(study: Study, space: SearchSpace) -> dict[str, Any] | None:
    """The finished trial with the best metric (pruned trials did not run their budget out)."""
    done = [t for t in study.trials if t["status"] == "finished" and t["metric"] is not None]
    if not done:
        return None
    return (min if space.minimize else max)(done, key=lambda t: t["metric"])


def write_best_config(study: Study, space: SearchSpace, trial: dict[str, Any]) -> Path:
    """``DIR/best.toml``: the best trial's resolved config in the flat ``--config`` format."""
    run_dir = study.run_dir(trial)
    try:
        config = rd.read_json(run_dir / rd.CONFIG_FILE, "config")  # resolved: every field, as trained
    except Exception:
        config = dict(trial["config"] or space.config_for(trial["params"]))
    # The device was the trial's slot under --parallel; the study's own choice is what carries over.
    if "device" in config:
        config["device"] = space.fixed.get("device", "auto")
    values = ", ".join(f"{k} = {json.dumps(v)}" for k, v in trial["params"].items())
    header = (f"Best trial of the study in {study.root}: {trial['name']}, {space.metric} {trial['metric']:.6g} "
              f"({'lower' if space.minimize else 'higher'} is better).\n"
              f"Searched values: {values}\n"
              f"Train it: textrnn train {space.task} --config {study.root / 'best.toml'} --out RUN")
    path = study.root / "best.toml"
    write_config_toml(path, config, header)  # the writer of run dirs' config.toml: --config reads it
    return path


def plot_params(study: Study, space: SearchSpace) -> Path | None:
    """``DIR/params.png``: the metric against each searched value, one panel per key.

    Returns None when matplotlib is not installed (it is optional) or no trial has a metric.
    """
    trials = [t for t in study.trials if t["metric"] is not None and t["status"] in ("finished", "pruned")]
    if not trials:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError:
        return None
    best = best_trial(study, space)
    count = len(space.params)
    cols = min(3, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, param in zip(axes.flat, space.params):
        values = [t["params"][param.name] for t in trials]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            position = {}
        else:  # choices of strings, booleans or lists: one column per choice, in the space's order
            labels = [json.dumps(v) for v in (param.values or values)]
            position = {label: i for i, label in enumerate(dict.fromkeys(labels))}
            ax.set_xticks(range(len(position)), list(position), rotation=30, ha="right")
        for status, color, marker in (("finished", "tab:blue", "o"), ("pruned", "tab:orange", "x")):
            points = [(t["params"][param.name], t["metric"]) for t in trials if t["status"] == status]
            if points:
                xs = [v if numeric else position[json.dumps(v)] for v, _ in points]
                ax.scatter(xs, [m for _, m in points], c=color, marker=marker, label=status)
        if best is not None:
            v = best["params"][param.name]
            ax.scatter([v if numeric else position[json.dumps(v)]], [best["metric"]], s=160, facecolors="none",
                       edgecolors="tab:red", label="best")
        positive = numeric and values and min(values) > 0
        if param.log_scale or (positive and param.kind == "choice" and max(values) / min(values) >= 100):
            ax.set_xscale("log")  # a choice of learning rates spans decades too
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels within a decade overlap
        ax.set_xlabel(param.name)
        ax.set_ylabel(space.metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    fig.suptitle(f"{space.metric} ({'lower' if space.minimize else 'higher'} is better) by searched value, "
                 f"{len(trials)} trials")
    fig.tight_layout()
    path = study.root / "params.png"
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return path
