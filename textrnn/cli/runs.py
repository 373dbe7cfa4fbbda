"""``textrnn runs list|show``: find, compare and inspect training runs."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app
from .common import handle_errors, print_json
from .progress import _duration

runs_app = typer.Typer(help="List and inspect training runs (directories made by `textrnn train`).",
                       no_args_is_help=True)
app.add_typer(runs_app, name="runs")

METRIC_LABEL = {"valid_loss": "loss", "valid_accuracy": "acc"}


@runs_app.command("list")
@handle_errors
def list_runs(
    root: Path = typer.Argument(Path("."), help="Directory searched recursively for runs."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON list of run summaries."),
) -> None:
    """List every run under DIR: model, tokenizer, size, steps, best score, wall time, status.

    The best score is the best validation loss (nats/token) for language models and the
    best validation accuracy for classifiers. Status is finished, interrupted (a signal;
    resume with --resume), failed (the error is shown by `runs show`) or running (still
    training, or killed without a chance to record how it ended).
    """
    from ..runs import list_runs as collect

    rows = collect(root)
    if json_output:
        print_json(rows)
        return
    if not rows:
        typer.echo(f"no runs under {root}", err=True)
        return
    table = [("RUN", "TASK/MODEL", "TOKENIZER", "PARAMS", "STEPS", "BEST VALID", "TIME", "STATUS")]
    for row in rows:
        if row["status"] == "unreadable":
            table.append((row["path"], "-", "-", "-", "-", "-", "-", "unreadable"))
            continue
        best = row["best_value"]
        table.append((
            row["path"],
            f"{row['task']}/{row['model']}",
            f"{row['tokenizer']} ({row['vocab_size']})" if row["vocab_size"] else str(row["tokenizer"]),
            _count(row["parameters"]),
            str(row["steps"]),
            f"{METRIC_LABEL.get(row['best_metric'], row['best_metric'])} {best:.4f}" if best is not None else "-",
            _seconds(row["wall_time_s"]),
            row["status"],
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    right = {3, 4}  # numbers line up on the right
    for r in table:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        typer.echo("  ".join(cells).rstrip())


@runs_app.command("show")
@handle_errors
def show_run(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    json_output: bool = typer.Option(False, "--json", help="Print everything as one JSON object."),
) -> None:
    """Show one run in detail: what it is, how it ended, its metrics, checkpoints and config."""
    from ..config_files import config_to_toml
    from ..runs import run_details

    d = run_details(run_dir)
    if json_output:
        print_json(d)
        return
    meta, m = d["meta"], d["metrics"]
    unit = " nats/token" if d["task"] == "lm" else ""
    typer.echo(f"run          {d['path']}")
    typer.echo(f"task         {d['task']}: model {d['model']} (plugin {meta.get('plugin')}), "
               f"{_count(d['parameters'])} parameters")
    typer.echo(f"tokenizer    {d['tokenizer']}, vocabulary {d['vocab_size']}")
    if meta.get("labels"):
        typer.echo(f"labels       {', '.join(meta['labels'])}")
    ended = f" at {d['ended']}" if d.get("ended") else ""
    typer.echo(f"status       {d['status']} after {d['steps']} steps, {_seconds(d['wall_time_s'])}{ended}")
    if d.get("error"):
        typer.echo(f"error        {d['error']}")
    if d["best_value"] is not None:
        name = d["best_metric"].replace("_", " ")
        shown = f"{d['best_value']:.4f}{unit if 'loss' in name else ''}"
        typer.echo(f"best         {name} {shown} at step {d['best_step']}")
    if m["train_logs"]:
        typer.echo(f"train loss   {m['first_train_loss']:.4f} -> {m['last_train_loss']:.4f}{unit} over "
                   f"{m['train_logs']} logs; last lr {m['last_lr']:.3g}"
                   + (f"; {m['mean_tokens_per_s']:,.0f} tokens/s" if m["mean_tokens_per_s"] else ""))
    if m["last_eval"]:
        shown = ", ".join(f"{k.removeprefix('valid_')} {v:.4f}" for k, v in m["last_eval"].items()
                          if k.startswith("valid_") and isinstance(v, (int, float)))
        typer.echo(f"evaluations  {m['evaluations']}; last (step {m['last_eval']['step']}): {shown}")
    typer.echo("checkpoints" + ("" if d["checkpoints"] else "  none"))
    for c in d["checkpoints"]:
        notes = [n for n, on in (("best", c["best"]), ("incomplete", not c["complete"])) if on]
        typer.echo(f"  {c['name']}  {c['bytes'] / 1e6:8.2f} MB  {' '.join(notes)}".rstrip())
    typer.echo("config (TOML, usable with --config)")
    for line in config_to_toml(d["config"]).splitlines():
        typer.echo(f"  {line}".rstrip())


def _count(n: int | None) -> str:
    if n is None:
        return "-"
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.1f}{suffix}"
    return str(n)


def _seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 60 else _duration(seconds)
