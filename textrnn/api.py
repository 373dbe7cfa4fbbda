"""``textrnn.load(run)``: a trained run as a Python object."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from .devices import resolve_device
from .errors import CheckpointError, CheckpointFallbackWarning, ConfigError, RunError
from .registry import get_model
from .tokenizers import load_tokenizer
from .training import checkpoint as ckpt
from .training import run_dir as rd


def warn_fallback(note: str) -> None:
    """Report a corrupt checkpoint that loading skipped, as the trainer does."""
    warnings.warn(note, CheckpointFallbackWarning, stacklevel=2)


def load_model(run_dir: Path, meta: dict, vocab_size: int, weights: str = "best",
               on_fallback: Callable[[str], None] = warn_fallback):
    """Build the run's model from its registered plugin and load verified weights.

    :param on_fallback: receives ``checkpoint step-N is corrupt (...); falling back to
        step-M`` for each newer checkpoint skipped; by default a
        :class:`~textrnn.errors.CheckpointFallbackWarning`.
    """
    info = get_model(meta["model"])
    if info.task != meta.get("task"):
        raise RunError(f"{run_dir}: model {meta['model']!r} is now a {info.task} model, but the run is {meta.get('task')}")
    options = info.make_options(meta.get("model_options", {}))
    model = info.factory(vocab_size, options)
    if weights not in ("best", "last"):
        raise ConfigError(f"weights must be 'best' or 'last', got {weights!r}")
    found = _load_weights_checkpoint(run_dir, weights, on_fallback)
    # a classifier trained with --ema serves its averaged weights
    group = "ema" if "ema" in found.names else "model"
    ckpt.load_model_tensors(model, found.tensors(group), found.meta["model_aliases"])
    return model.eval(), found


def _load_weights_checkpoint(run_dir: Path, weights: str, on_fallback: Callable[[str], None]):
    """The best checkpoint, or the newest good one when there is no best or it is corrupt."""
    best = ckpt.best_checkpoint(run_dir) if weights == "best" else None
    best_problem = None
    if best is not None:
        try:
            return ckpt.load_checkpoint(best)
        except CheckpointError as exc:
            best_problem = f"best {exc}"
    found, notes = ckpt.load_latest(run_dir)
    for note in notes:
        if best is None or not note.startswith(f"checkpoint {best.name} "):  # said below, once
            on_fallback(note)
    if best_problem is not None:
        to = found.path.name if found is not None else "no checkpoint"
        on_fallback(f"{best_problem}; falling back to the newest good checkpoint, {to}")
    if found is None:
        raise RunError(f"{run_dir} has no usable checkpoint")
    return found


class LoadedRun:
    """A trained run: ``generate`` and ``score`` for language models, ``classify`` for classifiers."""

    def __init__(self, run_dir: Path, meta: dict, tokenizer, model, checkpoint, device: torch.device,
                 fallback_notes: list[str] | None = None):
        self.run_dir = run_dir
        # one line per corrupt newer checkpoint that was skipped to load ``checkpoint``
        self.fallback_notes = list(fallback_notes or [])
        self.meta = meta
        self.tokenizer = tokenizer
        self.model = model
        self.checkpoint = checkpoint
        self.device = device

    @property
    def task(self) -> str:
        return self.meta["task"]

    def __getattr__(self, name: str):
        """A method that the run's task plugin adds (``methods`` of its registration), such
        as ``forecast`` for forecasting runs."""
        if name.startswith("_") or "meta" not in self.__dict__:
            raise AttributeError(name)
        from .registry import tasks

        info = tasks().get(self.meta.get("task"))
        method = info.methods.get(name) if info is not None else None
        if method is None:
            raise AttributeError(f"{type(self).__name__} of a {self.meta.get('task')} run has no {name!r}")
        return functools.partial(method, self)

    def _need(self, task: str, what: str) -> None:
        if self.task != task:
            raise RunError(f"{what} needs a {task} run, but {self.run_dir} is a {self.task} run")

    def generate(self, prompt: str = "", max_tokens: int = 200, **options) -> list[str]:
        """Sample continuations of ``prompt``; see :func:`textrnn.generation.generate`."""
        self._need("lm", "generate")
        from .generation import generate

        return generate(self.model, self.tokenizer, prompt=prompt, max_tokens=max_tokens, device=self.device, **options)

    def score(self, text: str) -> dict:
        """Loss (nats/token), perplexity, bits per token and per character of ``text``."""
        self._need("lm", "score")
        from .evaluation import score_text

        return score_text(self.model, self.tokenizer, text, self.device)

    def classify(self, texts, batch_size: int = 256) -> list[dict]:
        """Label and class probabilities of each text: ``[{"label": ..., "probs": {label: p}}]``."""
        self._need("classifier", "classify")
        from .classification import classify_texts

        texts = [texts] if isinstance(texts, str) else list(texts)
        return classify_texts(self.model, self.tokenizer, self.meta["labels"], texts, self.device,
                              max_length=self.meta.get("max_length", 1000), batch_size=batch_size)


def load_run(run_dir, device: str = "cpu", weights: str = "best") -> LoadedRun:
    run_dir = Path(run_dir)
    meta = rd.read_run_meta(run_dir)
    tokenizer = _stored_tokenizer(run_dir, meta)
    dev = resolve_device(device)
    notes: list[str] = []

    def on_fallback(note: str) -> None:
        notes.append(note)
        warnings.warn(note, CheckpointFallbackWarning, stacklevel=6)  # names the line that called textrnn.load

    vocab_size = tokenizer.vocab_size if tokenizer is not None else meta.get("vocab_size", 0)
    model, found = load_model(run_dir, meta, vocab_size, weights, on_fallback)
    return LoadedRun(run_dir, meta, tokenizer, model.to(dev), found, dev, notes)


def _stored_tokenizer(run_dir: Path, meta: dict):
    """The run's tokenizer, checked against run.json; None for a task without text (forecasting)."""
    if "tokenizer" not in meta:
        return None
    tokenizer = load_tokenizer(run_dir / rd.TOKENIZER_DIR)
    if tokenizer.fingerprint() != meta["tokenizer"].get("fingerprint"):
        raise RunError(f"{run_dir}: the stored tokenizer does not match the run (fingerprint differs)")
    if tokenizer.vocab_size != meta.get("vocab_size"):
        raise RunError(f"{run_dir}: tokenizer has {tokenizer.vocab_size} tokens but the run expects {meta.get('vocab_size')}")
    return tokenizer


def evaluate_lm_run(run: LoadedRun, text: str | None = None, encoding_errors: str = "strict") -> dict:
    """Metrics on ``text``, or on the run's own validation text when ``text`` is None."""
    from .training.config import TrainConfig

    if text is None:
        # The run's validation ids come from the token cache (or the validation text alone is encoded).
        from .data.lm_data import validation_tokens
        from .evaluation import lm_metrics, total_nll

        run._need("lm", "evaluate")
        cfg = TrainConfig.from_dict(rd.read_json(run.run_dir / rd.CONFIG_FILE, "config"))
        ids, chars = validation_tokens(cfg, run.tokenizer, run.meta.get("corpus", {}).get("fingerprint"),
                                       what=str(run.run_dir))
        start = run.tokenizer.newline_id  # as score_text: condition the first token on a newline
        if start is None:
            chars -= len(run.tokenizer.decode([int(i) for i in ids[:1]]))
        nll, count = total_nll(run.model, ids, run.device, streams=1, start_id=start)
        return lm_metrics(nll, count, chars)
    return run.score(text)
