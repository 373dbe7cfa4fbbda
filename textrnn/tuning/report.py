"""What a study leaves for people: leaderboard rows, ``best.toml`` and ``params.png``."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from ..training import run_dir as rd
from .space import SearchSpace
from .study import Study

_ORDER = {"finished": 0, "pruned": 1, "running": 2, "pending": 3, "failed": 4}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


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
    _write_atomic(path, config_toml(config, header))
    return path


def config_toml(config: dict[str, Any], header: str = "") -> str:
    """TOML for a config dict: scalars and lists first, then one table per dict; None is left out."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    tables = []
    for key, value in config.items():
        if value is None or value == {}:
            continue
        if isinstance(value, dict):
            tables.append(([key], value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    while tables:
        path, table = tables.pop(0)
        lines.append("")
        lines.append(f"[{'.'.join(_key(k) for k in path)}]")
        for key, value in table.items():
            if value is None:
                continue
            if isinstance(value, dict):
                tables.append((path + [key], value))
            else:
                lines.append(f"{_key(key)} = {_value(value)}")
    return "\n".join(lines) + "\n"


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
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON's string escapes are valid TOML basic-string escapes; TOML also forbids a raw DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) as TOML")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
