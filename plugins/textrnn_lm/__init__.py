"""The ``lm`` task plugin: recurrent language models, trained by the one training loop.

It registers through ``register_tasks``, the hook a third-party task uses too.
"""

from __future__ import annotations

import textrnn

__version__ = textrnn.__version__


@textrnn.hookimpl
def register_tasks(register):
    from textrnn.training.config import TrainConfig

    from .cli import add_train_command

    register("lm", _task, config=TrainConfig, add_train_command=add_train_command,
             evaluate=_evaluate, best_metric="valid_loss", run_noun="language-model",
             description="Language models: next-token prediction, nats per token and bits per character.")


def _task(config):
    from .task import LanguageModelTask  # torch: imported when training starts, not with --help

    return LanguageModelTask(config)


def _evaluate(run, request):
    from .evaluate import evaluate_lm
    return evaluate_lm(run, request)
