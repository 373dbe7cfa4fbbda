"""Errors that textrnn reports to users as one ``Error: ...`` line.

Everything the library raises on purpose derives from :class:`TextrnnError`; the CLI
turns these into a single line on stderr and exit code 1, never a traceback.
"""


class TextrnnError(Exception):
    """Base class for every error meant for the user, not for a traceback."""


class ConfigError(TextrnnError):
    """An option or configuration value is invalid or out of range."""


class CorpusError(TextrnnError):
    """Input text is missing, empty, binary, or not valid UTF-8."""


class PluginError(TextrnnError):
    """A plugin failed to load or registered something invalid."""


class UnknownNameError(TextrnnError):
    """A model, tokenizer or plugin name that nothing registered."""


class RunError(TextrnnError):
    """A run directory is missing, mismatched or corrupt."""


class CheckpointError(RunError):
    """A checkpoint failed verification or could not be written."""


class TrainingDiverged(TextrnnError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(TextrnnError):
    """Training stopped on a signal after saving a checkpoint.

    :param checkpoint: path of the checkpoint that was written.
    :param signum: the signal number that stopped training.
    """

    def __init__(self, message: str, checkpoint: str | None, signum: int):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.signum = signum


class WorkerError(TextrnnError):
    """A worker process (tokenizing a corpus, say) died, failed or stopped answering."""


class CheckpointFallbackWarning(UserWarning):
    """A corrupt newest checkpoint was skipped for an older one.

    The message reads ``checkpoint step-N is corrupt (...); falling back to step-M``;
    the CLI prints it as a ``Warning:`` line.
    """
