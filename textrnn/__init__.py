"""textrnn: recurrent text models (language models and classifiers) as pluggy plugins.

Public API::

    import textrnn
    run = textrnn.load("runs/demo")      # a trained run directory
    run.generate(prompt="ROMEO:", max_tokens=200)
    run.score("Some text")               # loss, perplexity, bits per character

Plugins implement hooks marked with :data:`textrnn.hookimpl`.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CheckpointError,
    CheckpointFallbackWarning,
    ConfigError,
    CorpusError,
    PluginError,
    RunError,
    TextrnnError,
    TrainingDiverged,
    TrainingInterrupted,
    UnknownNameError,
    WorkerError,
)
from .hookspecs import hookimpl  # noqa: E402


def load(run_dir, device: str = "cpu", weights: str = "best"):
    """Load a trained run for generation, scoring or classification.

    :param run_dir: the directory written by ``textrnn train``.
    :param device: ``cpu``, ``cuda``, ``mps`` or ``auto``.
    :param weights: ``best`` or ``last``.
    :warns CheckpointFallbackWarning: for each corrupt checkpoint skipped to load an older
        one ("checkpoint step-N is corrupt (...); falling back to step-M"); the returned
        run keeps them as ``fallback_notes``.
    """
    from .api import load_run  # torch is imported only here

    return load_run(run_dir, device=device, weights=weights)


__all__ = [
    "__version__", "hookimpl", "load", "TextrnnError", "ConfigError", "CorpusError", "PluginError",
    "RunError", "CheckpointError", "TrainingDiverged", "TrainingInterrupted", "UnknownNameError",
    "CheckpointFallbackWarning", "WorkerError",
]
