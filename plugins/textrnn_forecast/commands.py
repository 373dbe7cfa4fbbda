"""The forecasting commands: ``textrnn train forecast``, ``textrnn forecast`` and the
forecast part of ``textrnn evaluate``. Only this module of the plugin prints or exits.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional

import typer

TABLE_METRICS = (("mae", "MAE"), ("rmse", "RMSE"), ("smape", "sMAPE %"), ("mase", "MASE"),
                 ("coverage_80", "cover80 %"), ("coverage_95", "cover95 %"))


def echo_report(result: dict, heading: str) -> None:
    """The model's metrics with the baselines' below, and MASE ratios."""
    typer.echo(heading)
    shown = [(k, label) for k, label in TABLE_METRICS if k in result["model"]]
    typer.echo(f"{'':16}" + "".join(f"{label:>11}" for _, label in shown))
    for name in ("model", "seasonal_naive", "naive", "drift"):
        cells = "".join(f"{result[name][k]:>11.3f}" if k in result[name] else f"{'-':>11}" for k, _ in shown)
        typer.echo(f"{name:16}{cells}")
    ratios = ", ".join(f"{result[f'mase_vs_{b}']:.3f}x {b}" for b in ("seasonal_naive", "naive", "drift")
                       if result.get(f"mase_vs_{b}") is not None)
    typer.echo(f"model MASE = {ratios}")


def add_train_command(train_app: typer.Typer) -> None:
    from textrnn.cli.common import handle_errors

    train_app.command("forecast")(handle_errors(train_forecast))


def train_forecast(
    ctx: typer.Context,
    data: Optional[Path] = typer.Argument(None, help="CSV/TSV/Parquet table or datasets save_to_disk folder with a time column and numeric columns. Default: the embedded AirPassengers (monthly, 1949-1960)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory to create (or resume); required unless --print-config."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML file of options named like the flags; flags override it."),
    print_config_only: bool = typer.Option(False, "--print-config", help="Print the config as TOML and exit."),
    time_column: Optional[str] = typer.Option(None, "--time-column", help="Column of dates (2020-01-31, 2020-01) or integer years. Default: the first column not named by another option."),
    target: Optional[list[str]] = typer.Option(None, "--target", help="Column to forecast (repeatable). Default: every numeric column not otherwise used."),
    covariate: Optional[list[str]] = typer.Option(None, "--covariate", help="Past covariate column, read over the context (repeatable)."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Column naming the series of a stacked table; all train one global model."),
    frequency: Optional[str] = typer.Option(None, "--frequency", help="hourly, daily, weekly, monthly, quarterly or yearly. Default: inferred; needed for irregular time stamps (rows in one period are averaged)."),
    season: Optional[int] = typer.Option(None, "--season", help="Seasonal period for MASE, seasonal naive and the context. Default: the frequency's (12 monthly, 7 daily, 24 hourly, 52 weekly, 4 quarterly, 1 yearly)."),
    horizon: Optional[int] = typer.Option(None, "--horizon", help="Steps forecast at once; the last HORIZON steps are held out. Default: the frequency's (12 monthly, 14 daily, 24 hourly, 13 weekly, 8 quarterly, 10 yearly)."),
    valid_fraction: Optional[float] = typer.Option(None, "--valid-fraction", help="Hold out this share of each series (whole horizons) instead of one horizon."),
    missing: Optional[str] = typer.Option(None, "--missing", help="interpolate (default) or mask: missing targets left out of the loss and metrics."),
    context_length: Optional[int] = typer.Option(None, "--context-length", help="Steps read before forecasting. Default: max(2 x season, horizon, 8), shortened to fit the shortest series."),
    calendar: Optional[bool] = typer.Option(None, "--calendar/--no-calendar", help="Feed sin/cos of the position in the season (month of year, day of week, hour of day). Default: on."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="block-rnn (encoder + direct head, default) or ar-rnn (autoregressive)."),
    cell: Optional[str] = typer.Option(None, "--cell", help="gru (default) or lstm."),
    hidden_size: Optional[int] = typer.Option(None, "--hidden-size", help="Units per recurrent layer (default 32)."),
    num_layers: Optional[int] = typer.Option(None, "--num-layers", help="Recurrent layers (default 1)."),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="Dropout, in [0, 1) (default 0.2)."),
    model_option: Optional[list[str]] = typer.Option(None, "--model-option", help="Any model option as KEY=VALUE (repeatable)."),
    loss: Optional[str] = typer.Option(None, "--loss", help="mse (default), mae, or gaussian (likelihood; sampled paths give 80 % and 95 % intervals)."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Sample paths for intervals with --loss gaussian (default 200)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Windows per step (default 32)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate (default 3e-3)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (default 400)."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", help="Stop after this many seconds."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Score the held-out tail (and checkpoint) every N steps (default 100)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (initialisation, windows, dropout, sample paths)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or mps."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest good checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete the run in --out and start over."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also write TensorBoard scalars to OUT/tensorboard."),
    json_output: bool = typer.Option(False, "--json", help="Print the summary and the held-out report as JSON."),
) -> None:
    """Train a recurrent forecaster on one or more time series.

    The last --horizon steps of each series are held out (never trained on); the report
    scores them beside the seasonal-naive, naive and drift forecasts.
    """
    from textrnn.cli.common import load_plugins, parse_key_values, print_json
    from textrnn.cli.training_setup import stored_config, print_config, resolve_config, run_training

    from .config import ForecastConfig

    model_options = {k: v for k, v in {"cell": cell, "hidden_size": hidden_size, "num_layers": num_layers,
                                       "dropout": dropout}.items() if v is not None}
    model_options.update(parse_key_values(model_option, "--model-option"))
    given = dict(data=str(data) if data else None, time_column=time_column, target=target or None,
                 covariates=covariate or None, id_column=id_column, frequency=frequency, season=season,
                 horizon=horizon, valid_fraction=valid_fraction, missing=missing, context_length=context_length,
                 calendar=calendar, model=model, loss=loss, samples=samples, batch_size=batch_size, lr=lr,
                 max_steps=max_steps, time_budget=time_budget, eval_every=eval_every, seed=seed, device=device,
                 threads=threads)
    values = {k: v for k, v in given.items() if v is not None}
    values["model_options"] = model_options
    config = resolve_config(ctx, ForecastConfig, values, config_file, param_names={"covariates": "covariate"},
                            stored=stored_config(out, ForecastConfig) if resume else None)
    if print_config_only:
        print_config(config)
        return
    if out is None:
        raise typer.BadParameter("is required unless --print-config is given", param_hint="'--out' / '-o'")
    load_plugins()
    summary = run_training("forecast", config, out, resume=resume, overwrite=overwrite, tensorboard=tensorboard,
                           nproc=1)
    import textrnn

    from .forecasting import evaluate

    run = textrnn.load(out)
    result, _ = evaluate(run, seed=config.seed)
    if json_output:
        print_json({**summary, "valid": result})
        return
    echo_report(result, f"run: {out}  held-out: last {result['held_out']} steps of {result['series']} series "
                        f"(season {result['season']})")
    typer.echo(f"next: textrnn forecast {out} --horizon {result['horizon']} --plot forecast.png", err=True)


def evaluate_run(run, request) -> None:
    """``textrnn evaluate RUN [FILE]`` for a forecast run: the held-out tail of FILE (default:
    the training data), scored beside the baselines; ``--plot`` draws it."""
    import textrnn

    from textrnn.cli.common import print_json

    from .forecasting import evaluate, run_layout

    if request.plot is not None:
        from .plot import check_target

        check_target(request.plot)
    if not hasattr(run, "model"):
        run = textrnn.load(run, device=request.device, weights=request.weights)
    result, pictures = evaluate(run, request.file)
    if request.plot is not None:
        from .plot import plot_forecasts

        plot_forecasts(pictures, run_layout(run).frequency, request.plot, title="held-out")
    if request.json_output:
        print_json(result)
        return
    echo_report(result, f"{result['source']}: held-out last {result['held_out']} steps of {result['series']} series "
                        f"(horizon {result['horizon']}, season {result['season']})")


def forecast_method(run, data=None, horizon=None, samples=None, seed=0) -> list[dict]:
    """``textrnn.load(run).forecast(data=None, horizon=None)``: one row per series and step."""
    from .forecasting import forecast, forecast_rows

    return forecast_rows(run, forecast(run, data, horizon, samples=samples, seed=seed))


def forecast_command(
    run_dir: Path = typer.Argument(..., help="A forecast run directory written by `textrnn train forecast`."),
    data: Optional[Path] = typer.Argument(None, help="Table to continue (same columns as training). Default: the run's training data."),
    horizon: Optional[int] = typer.Option(None, "--horizon", help="Steps to forecast past the end of each series. Default: the run's horizon."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the forecast to this .csv or .json file instead of stdout."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (a list of rows) instead of CSV."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw history, forecast and intervals into this image (.png, .svg, ...)."),
    samples: Optional[int] = typer.Option(None, "--samples", help="Sample paths for the intervals (runs trained with --loss gaussian)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample paths."),
    weights: str = typer.Option("best", "--weights", help="best or last (the same for forecast runs: the newest)."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda or mps."),
) -> None:
    """Forecast past the end of each series, as CSV (default) or JSON rows.

    Each row: series, time, forecast, and for runs trained with --loss gaussian the
    80 % and 95 % interval bounds (lower_80, upper_80, lower_95, upper_95).
    """
    from textrnn.cli.common import err, load_plugins
    from textrnn.errors import ConfigError

    load_plugins()
    if horizon is not None and horizon < 1:
        raise ConfigError(f"--horizon must be at least 1, got {horizon}")
    if samples is not None and samples < 10:
        raise ConfigError(f"--samples must be at least 10, got {samples}")
    if output is not None and output.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--output must end in .csv or .json, got {output.name}")
    if plot is not None:
        from .plot import check_target

        check_target(plot)
    import textrnn

    from .forecasting import forecast, forecast_rows, run_layout

    run = textrnn.load(run_dir, device=device, weights=weights)
    if run.task != "forecast":
        raise textrnn.RunError(f"{run_dir} is a {run.task} run; textrnn forecast needs a forecast run")
    forecasts = forecast(run, data, horizon, samples=samples, seed=seed)
    rows = forecast_rows(run, forecasts)
    as_json = json_output if output is None else output.suffix.lower() == ".json"
    text = json.dumps(rows) + "\n" if as_json else _csv(rows)
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from None
        err(f"wrote {len(rows)} rows to {output}")
    if plot is not None:
        from .plot import plot_forecasts

        plot_forecasts(forecasts, run_layout(run).frequency, plot, title="forecast")
        err(f"wrote {plot}")


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def add_forecast_command(cli: typer.Typer) -> None:
    from textrnn.cli.common import handle_errors

    cli.command("forecast")(handle_errors(forecast_command))
