"""``textrnn evaluate`` for classifier runs: accuracy, macro-F1, per class, confusion, log loss."""

from __future__ import annotations

import typer

from textrnn.cli.classification_report import echo_metrics
from textrnn.cli.common import print_json
from textrnn.errors import ConfigError


def evaluate_classifier(run, request) -> None:
    from textrnn.classification import evaluate_classifier_run

    if request.plot is not None:
        raise ConfigError("--plot draws forecasts; a classifier run has nothing to draw")
    file = request.file
    metrics, info = evaluate_classifier_run(run, file, request.text_field, request.label_field,
                                            request.encoding_errors)
    if request.json_output:
        print_json(metrics)
    else:
        echo_metrics(metrics, str(file) if file else f"validation ({info['source']})", info["rows"])
    if info["skipped_empty"]:
        typer.echo(f"skipped {info['skipped_empty']} row(s) with empty text", err=True)
