"""The ``classifier`` task plugin: recurrent text classifiers, trained by the one training loop.

It registers through ``register_tasks``, the hook a third-party task uses too.
"""

from __future__ import annotations

import textrnn

__version__ = textrnn.__version__


@textrnn.hookimpl
def register_tasks(register):
    from textrnn.training.classifier_config import ClassifierConfig

    from .cli import add_train_command

    register("classifier", _task, config=ClassifierConfig, add_train_command=add_train_command,
             evaluate=_evaluate, best_metric="valid_accuracy", higher_is_better=True,
             description="Text classifiers: one label per text, scored by accuracy and macro-F1.")


def _task(config):
    from .task import ClassifierTask  # torch: imported when training starts, not with --help

    return ClassifierTask(config)


def _evaluate(run, request):
    from .evaluate import evaluate_classifier

    return evaluate_classifier(run, request)
