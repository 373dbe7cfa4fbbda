"""``textrnn tune``: search hyperparameters with many short training runs."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperCommand

from .app import app
from .common import err, handle_errors, load_plugins, print_json


class _PlainHelp(TyperCommand):
    """Click's plain help layout, so the space-file example keeps its lines and its [tables]
    (rich would read ``[fixed]`` as markup and drop it)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rich_markup_mode = None


@app.command("tune", cls=_PlainHelp)
@handle_errors
def tune(
    space_file: Path = typer.Argument(..., help="Search space: what to fix and what to search (format above)."),
    out: Path = typer.Option(..., "--out", "-o", help="Study directory: study.json, trial-000/ ..., best.toml, params.png."),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", help="Trials to run. Default: 10 (random), the whole grid (grid)."),
    budget_per_trial: Optional[float] = typer.Option(None, "--budget-per-trial", help="Seconds of training per trial (its time_budget). Needed unless [fixed] sets max_steps, epochs or time_budget."),
    sampler: str = typer.Option("random", "--sampler", help="random (seeded draws) or grid (every combination; a seeded subset when --trials is smaller)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler. Trials train with the space's seed (default 1337)."),
    parallel: int = typer.Option(1, "--parallel", help="Trials at once: one GPU each where there are GPUs, else cores/K CPU threads each."),
    prune: bool = typer.Option(True, "--prune/--no-prune", help="Stop a trial whose best validation metric so far is worse than the median of the other trials at the same step."),
    prune_warmup: int = typer.Option(2, "--prune-warmup", help="Evaluations every trial gets before the median rule may stop it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check the space and print the trials it would run, then exit."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete the study in --out (study.json, trial-*, logs, best.toml, params.png) and start over."),
    json_output: bool = typer.Option(False, "--json", help="Print the leaderboard as JSON."),
) -> None:
    """Search hyperparameters: train one short run per trial and rank them.

    \b
    Space file (TOML):
      task = "lm"                           # or "classifier", or a plugin's ("forecast")
      [fixed]                               # shared by every trial
      corpus = ["input.txt"]
      model = "lstm"
      batch_size = 64
      model_options.num_layers = 2          # or a [fixed.model_options] table
      [search]                              # one distribution per key
      lr = {log_uniform = [1e-3, 1e-2]}
      hidden_size = {choice = [128, 256, 384]}
      dropout = {uniform = [0.0, 0.4]}
      seq_len = {int = [64, 256], step = 64}

    \b
    Keys are the config fields of `textrnn train lm` / `train classifier` (as in their
    --config files: lr, batch_size, seq_len, max_steps, eval_every, ...). Model options
    (hidden_size, num_layers, dropout, embedding_dim, ...; see `textrnn models`) may be
    written bare or as model_options.NAME; tokenizer options as tokenizer_options.NAME.
    Distributions: {choice = [...]}, {uniform = [lo, hi]} (optional step), {log_uniform
    = [lo, hi]}, {int = [lo, hi]} (optional step). On a grid a range without step takes
    `points` values (default 3: low, middle, high).

    \b
    Each trial is an ordinary run directory, OUT/trial-000, ..., trained for
    --budget-per-trial seconds in its own process. Trials are judged by their best
    validation loss (lm, lower is better) or accuracy (classifier, higher is better).
    Unless the space sets eval_every, tune picks it so a trial evaluates about 8 times
    (from max_steps, or from the steps the first finished trial took). A trial that
    fails (say its loss turns NaN) is recorded with its error and the search goes on.

    \b
    The study is saved in OUT/study.json after every trial start and end. Stopped or
    killed, the same command continues it: finished trials are kept, interrupted ones
    resume from their last checkpoint, and the trial list (drawn up front from --seed)
    is the same. At the end: a leaderboard on stdout, OUT/best.toml (train it with
    `textrnn train lm --config OUT/best.toml --out RUN`) and OUT/params.png.
    """
    load_plugins()
    from ..errors import ConfigError
    from ..tuning.samplers import sample_trials
    from ..tuning.space import load_space

    space = load_space(space_file)
    set_here = set(space.fixed) | {p.field for p in space.params if p.section is None}
    if budget_per_trial is not None:
        if budget_per_trial <= 0:
            raise ConfigError(f"--budget-per-trial must be positive, got {budget_per_trial}")
        if "time_budget" in set_here:
            raise ConfigError(f"{space_file} sets time_budget and so does --budget-per-trial; keep one")
    elif not set_here & {"max_steps", "epochs", "time_budget"}:
        raise ConfigError("give --budget-per-trial SECONDS, or set max_steps, epochs or time_budget in the "
                          "space's [fixed] table, so that trials end")
    if trials is None and not overwrite:
        trials = _stored_trials(out)  # rerun without --trials: continue the study at its size, not the default's
    params, note = sample_trials(space, sampler, seed, trials)
    if note:
        err(f"Note: {note}")
    for number, values in enumerate(params):
        config = space.config_for(values)
        if budget_per_trial is not None:
            config["time_budget"] = budget_per_trial
        space.check_config(config, f"trial {number} ({_values(values)})")
    if dry_run:
        if json_output:
            print_json({"trials": [{"trial": f"trial-{n:03d}", "params": v} for n, v in enumerate(params)]})
        else:
            for number, values in enumerate(params):
                typer.echo(f"trial-{number:03d}  {_values(values)}")
        return
    _run_study(space, params, out, sampler=sampler, seed=seed, budget=budget_per_trial, parallel=parallel,
               prune=prune, prune_warmup=prune_warmup, overwrite=overwrite, json_output=json_output)


def _run_study(space, params, out: Path, *, sampler, seed, budget, parallel, prune, prune_warmup, overwrite,
               json_output) -> None:
    from ..tuning import report
    from ..tuning.runner import StudyRunner, plan_slots
    from ..tuning.study import Study, study_lock
    from .training_setup import SignalFlag

    identity = {**space.identity(), "sampler": sampler, "seed": seed, "budget_per_trial": budget}
    with study_lock(out):
        study = Study.open(out, identity, overwrite=overwrite)
        study.extend(params)
        slots, note = plan_slots(parallel, space.fixed.get("device"))
        if note:
            err(note)
        done = sum(t["status"] in ("finished", "pruned", "failed") for t in study.trials)
        if done:
            err(f"continuing the study in {out}: {done} of {len(study.trials)} trials done")
        with SignalFlag() as flag:
            runner = StudyRunner(study, space, budget=budget, slots=slots, prune=prune, prune_warmup=prune_warmup,
                                 on_event=TuneProgress(space.metric), stop_requested=flag)
            runner.run()
        best = report.best_trial(study, space)
        best_path = report.write_best_config(study, space, best) if best is not None else None
        plot_path = report.plot_params(study, space)
    rows = report.leaderboard(study, space)
    if json_output:
        print_json({"study": str(out), "task": space.task, "metric": space.metric,
                    "direction": "minimize" if space.minimize else "maximize",
                    "best": best["name"] if best else None, "best_config": str(best_path) if best_path else None,
                    "plot": str(plot_path) if plot_path else None, "trials": rows})
    else:
        _print_table(rows, space.metric)
    failed = [t for t in study.trials if t["status"] == "failed"]
    if failed and len(failed) == len(study.trials):
        from ..errors import RunError

        # Every trial failing is a fault of the space (a missing corpus, say), not a result: exit 1.
        raise RunError(f"all {len(failed)} trials failed; {failed[0]['name']}: {failed[0]['error']}")
    if best is None:
        err("no trial finished, so there is no best.toml")
    else:
        err(f"best: {best['name']} ({space.metric} {best['metric']:.4f}); config: {best_path}"
            + (f"; plot: {plot_path}" if plot_path else "; no params.png (pip install matplotlib)"))
        err(f"next: textrnn train {space.task} --config {best_path} --out RUN")


def _stored_trials(out: Path) -> int | None:
    try:
        return len(json.loads((out / "study.json").read_text(encoding="utf-8"))["trials"]) or None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no study there yet, or one Study.open will report on


class TuneProgress:
    """One stderr line per trial start, prune and end."""

    def __init__(self, metric: str):
        self.metric = metric

    def __call__(self, event) -> None:
        trial = event.trial
        if event.kind == "message":
            err(event.text)
        elif event.kind == "start":
            where = f" on {trial['device']}" if trial.get("device") not in (None, "auto") else ""
            again = f" (attempt {trial['attempts']})" if trial["attempts"] > 1 else ""
            err(f"{trial['name']} started{again}{where}: {_values(trial['params'])}")
        elif event.kind == "pruned":
            v = event.verdict
            err(f"{trial['name']} pruned at step {v.step}: best {self.metric} {v.value:.4f} is worse than the "
                f"median {v.median:.4f} of {v.trials} other trials")
        elif event.kind == "end":
            metric = f"{self.metric} {trial['metric']:.4f}" if trial["metric"] is not None else f"no {self.metric}"
            tail = f": {trial['error']}" if trial["status"] == "failed" else ""
            err(f"{trial['name']} {trial['status']} after {trial['steps'] or 0} steps, "
                f"{_duration(trial['wall_time'])}, {metric}{tail}")


def _print_table(rows: list[dict], metric: str) -> None:
    header = ["rank", "trial", "status", metric, "steps", "wall", "params"]
    table = [[str(r["rank"]), r["trial"], r["status"], "-" if r["metric"] is None else f"{r['metric']:.4f}",
              "-" if r["steps"] is None else str(r["steps"]), _duration(r["wall_time"]), _values(r["params"])]
             for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    for row in [header, *table]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1])
    for r in rows:
        if r["status"] == "failed" and r["error"]:
            typer.echo(f"{r['trial']} failed: {r['error']}")


def _values(values: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v) if isinstance(v, (str, list, bool)) else v}" for k, v in values.items())


def _duration(seconds: float | None) -> str:
    if not seconds:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def trial_process(spec_file: Path) -> int:
    """Run one trial of `textrnn tune` in this process (``python -m textrnn.tuning.trial SPEC``).

    Progress goes to stderr, the summary as JSON to stdout, and errors as one ``Error:``
    line; returns the exit code (143 when stopped by SIGTERM: pruned, or tune stopping).
    """
    try:
        _run_trial_process(spec_file)
    except typer.Exit as exc:
        return exc.exit_code
    return 0


@handle_errors
def _run_trial_process(spec_file: Path) -> None:
    load_plugins()
    from ..tuning.trial import read_spec, run_trial
    from .progress import ProgressPrinter
    from .training_setup import SignalFlag
    from .progress import ClassifierProgress

    spec = read_spec(spec_file)
    # the classifier's own lines; every other task (lm, a plugin's) prints the generic ones
    printer = (ClassifierProgress if spec["task"] == "classifier" else ProgressPrinter)(stream=sys.stderr, every_s=5.0)
    parent = spec.get("parent_pid") or os.getppid()  # from the spec: tune may already be gone by now

    with SignalFlag() as flag:
        def stop_requested() -> int | None:
            # SIGTERM from tune (pruning, or tune stopping), or tune gone: save a checkpoint and stop.
            return flag() or (signal.SIGTERM if os.getppid() != parent else None)

        summary = run_trial(spec, on_event=printer, stop_requested=stop_requested)
    print_json(summary)
