"""Find run directories and summarise them from their JSON files (never importing torch).

A summary says what a run is (task, model, tokenizer, size), how far it got (steps,
wall time, status) and how good it is (best validation loss for a language model,
best validation accuracy for a classifier).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import RunError
from .training import run_dir as rd

# The names training/checkpoint.py writes; not imported from there, as it imports torch (seconds).
BEST_FILE = "best.json"
CHECKPOINTS_DIR = "checkpoints"
BEST_METRIC = {"lm": "valid_loss", "classifier": "valid_accuracy"}  # for runs whose task plugin is absent
LOWER_IS_BETTER = {"valid_loss": True, "valid_accuracy": False}


def best_metric(task: str | None) -> tuple[str, bool]:
    """The metric that ranks runs of ``task``, and whether lower is better (the task's registration)."""
    from .errors import TextrnnError
    from .registry import tasks

    try:
        info = tasks().get(task)
    except TextrnnError:
        info = None
    if info is not None:
        return info.best_metric, not info.higher_is_better
    metric = BEST_METRIC.get(task, "valid_loss")
    return metric, LOWER_IS_BETTER.get(metric, True)


def find_runs(root: str | Path) -> list[Path]:
    """Run directories at or below ``root`` (those holding run.json), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"{root}: no such directory")
    found = []
    for here, dirs, _files in os.walk(root):
        path = Path(here)
        if rd.is_run(path):
            found.append(path)
            dirs.clear()  # a run's own folders (checkpoints, tokenizer) hold no runs
        else:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
    return sorted(found)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl``; a torn last line (a run killed mid-write) is skipped."""
    path = Path(run_dir) / rd.METRICS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if number != len(lines):
                raise RunError(f"{path} is corrupt at line {number}") from None
    return records


def summarize(run_dir: str | Path, root: str | Path | None = None) -> dict[str, Any]:
    """One run in a few numbers; ``path`` is relative to ``root`` when given."""
    run_dir = Path(run_dir)
    meta = rd.read_run_meta(run_dir)
    records = read_metrics(run_dir)
    task = meta.get("task")
    metric, lower = best_metric(task)
    best = _best(run_dir, metric, lower, records)
    trains = [r for r in records if r.get("kind") == "train"]
    last_time = max((r["time"] for r in records if isinstance(r.get("time"), (int, float))), default=None)
    steps = meta.get("steps")
    if steps is None or meta.get("status") == "running":  # still running, or killed: the log knows more
        steps = max([steps or 0, *(r.get("step", 0) for r in records)])
    return {
        "path": _relative(run_dir, root),
        "task": task,
        "model": meta.get("model"),
        "tokenizer": (meta.get("tokenizer") or {}).get("type"),
        "vocab_size": meta.get("vocab_size"),
        "parameters": meta.get("parameters"),
        "steps": steps,
        "best_metric": metric,
        "best_value": best.get(metric),
        "best_step": best.get("step"),
        "last_train_loss": trains[-1]["loss"] if trains else None,
        "wall_time_s": meta.get("elapsed") if meta.get("status") != "running" else last_time,
        "status": meta.get("status", "unknown"),
        "error": meta.get("error"),
        "ended": meta.get("ended"),
    }


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """Summaries of every run under ``root``; an unreadable run is listed with status ``unreadable``."""
    rows = []
    for path in find_runs(root):
        try:
            rows.append(summarize(path, root))
        except RunError as exc:
            rows.append({"path": _relative(path, root), "status": "unreadable", "error": str(exc)})
    return rows


def run_details(run_dir: str | Path) -> dict[str, Any]:
    """Everything ``textrnn runs show`` reports: summary, run metadata, config, metrics and checkpoints."""
    run_dir = Path(run_dir)
    summary = summarize(run_dir)
    meta = rd.read_run_meta(run_dir)
    config = rd.read_json(run_dir / rd.CONFIG_FILE, "config")
    records = read_metrics(run_dir)
    trains = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    metric = summary["best_metric"]
    scored = [r for r in evals if isinstance(r.get(metric), (int, float))]
    pick = min if best_metric(meta.get("task"))[1] else max
    rates = [r["tokens_per_s"] for r in trains[1:] if isinstance(r.get("tokens_per_s"), (int, float))]
    metrics = {
        "train_logs": len(trains),
        "first_train_loss": trains[0]["loss"] if trains else None,
        "last_train_loss": trains[-1]["loss"] if trains else None,
        "last_lr": trains[-1].get("lr") if trains else None,
        "mean_tokens_per_s": sum(rates) / len(rates) if rates else None,  # the first log includes warm-up
        "evaluations": len(evals),
        "last_eval": evals[-1] if evals else None,
        "best_eval": pick(scored, key=lambda r: r[metric]) if scored else None,
    }
    return {**summary, "path": str(run_dir), "meta": meta, "config": config, "metrics": metrics,
            "checkpoints": _checkpoints(run_dir)}


def _best(run_dir: Path, metric: str, lower: bool, records: list[dict]) -> dict[str, Any]:
    """The best checkpoint's scores from best.json, else the best evaluation in the log."""
    try:
        best = json.loads((run_dir / BEST_FILE).read_text(encoding="utf-8"))
        if isinstance(best.get(metric), (int, float)):
            return best
    except (OSError, ValueError):
        pass
    scored = [r for r in records if r.get("kind") == "eval" and isinstance(r.get(metric), (int, float))]
    if not scored:
        return {}
    return (min if lower else max)(scored, key=lambda r: r[metric])


def _checkpoints(run_dir: Path) -> list[dict[str, Any]]:
    try:
        best = json.loads((run_dir / BEST_FILE).read_text(encoding="utf-8")).get("checkpoint")
    except (OSError, ValueError):
        best = None
    folder = run_dir / CHECKPOINTS_DIR
    rows = []
    for path in sorted(folder.glob("step-*")) if folder.is_dir() else []:
        if not path.is_dir() or not path.name[5:].isdigit():
            continue
        rows.append({"name": path.name, "step": int(path.name[5:]),
                     "bytes": sum(f.stat().st_size for f in path.iterdir() if f.is_file()),
                     "complete": (path / "manifest.json").exists(), "best": path.name == best})
    return rows


def _relative(path: Path, root: str | Path | None) -> str:
    if root is None:
        return str(path)
    try:
        return str(path.relative_to(root)) if Path(path) != Path(root) else str(path)
    except ValueError:
        return str(path)
