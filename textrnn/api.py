"""``textrnn.load(run)``: a trained run as a Python object."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from .devices import resolve_device
from .errors import ConfigError, RunError
from .registry import get_model
from .tokenizers import load_tokenizer
from .training import checkpoint as ckpt
from .training import run_dir as rd


def load_model(run_dir: Path, meta: dict, vocab_size: int, weights: str = "best"):
    """Build the run's model from its registered plugin and load verified weights."""
    info = get_model(meta["model"])
    if info.task != meta.get("task"):
        raise RunError(f"{run_dir}: model {meta['model']!r} is now a {info.task} model, but the run is {meta.get('task')}")
    options = info.make_options(meta.get("model_options", {}))
    model = info.factory(vocab_size, options)
    if weights not in ("best", "last"):
        raise ConfigError(f"weights must be 'best' or 'last', got {weights!r}")
    path = ckpt.best_checkpoint(run_dir) if weights == "best" else None
    if path is None:
        found, _ = ckpt.load_latest(run_dir)
        if found is None:
            raise RunError(f"{run_dir} has no usable checkpoint")
    else:
        found = ckpt.load_checkpoint(path)
    # a classifier trained with --ema serves its averaged weights
    group = "ema" if "ema" in found.names else "model"
    ckpt.load_model_tensors(model, found.tensors(group), found.meta["model_aliases"])
    return model.eval(), found


class LoadedRun:
    """A trained run: ``generate`` and ``score`` for language models, ``classify`` for classifiers."""

    def __init__(self, run_dir: Path, meta: dict, tokenizer, model, checkpoint, device: torch.device):
        self.run_dir = run_dir
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
    if "tokenizer" not in meta:  # a task without text (forecasting): the model reads numbers
        dev = resolve_device(device)
        model, found = load_model(run_dir, meta, meta.get("vocab_size", 0), weights)
        return LoadedRun(run_dir, meta, None, model.to(dev), found, dev)
    tokenizer = load_tokenizer(run_dir / rd.TOKENIZER_DIR)
    if tokenizer.fingerprint() != meta.get("tokenizer", {}).get("fingerprint"):
        raise RunError(f"{run_dir}: the stored tokenizer does not match the run (fingerprint differs)")
    if tokenizer.vocab_size != meta.get("vocab_size"):
        raise RunError(f"{run_dir}: tokenizer has {tokenizer.vocab_size} tokens but the run expects {meta.get('vocab_size')}")
    dev = resolve_device(device)
    model, found = load_model(run_dir, meta, tokenizer.vocab_size, weights)
    return LoadedRun(run_dir, meta, tokenizer, model.to(dev), found, dev)


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
