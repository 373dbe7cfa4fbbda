"""Contract checks for model plugins: call them from a plugin's own tests.

    from textrnn.testing import check_model

    def test_mymodel_keeps_the_contracts():
        check_model("mymodel", hidden_size=16, embedding_dim=8)

Each check builds small models with the factory a plugin registered and raises
:class:`AssertionError` naming the contract that failed, for example
``contract 'carried state' failed for model 'mymodel': ...``. The contracts are what
textrnn's trainer, evaluator, generator and checkpoints rely on:

* **output shapes** -- an LM maps ids (B, T) to logits (B, T, V) and a state made of
  tensors with the batch on dim 1; a classifier maps ids (B, T) and lengths (B,) to
  logits (B, num_classes); a forecaster (task ``forecast``) maps a context (B, C, S + K)
  and known future features (B, H, K) to forecasts (B, H, S or 2 S)
  (:func:`check_forecaster`).
* **determinism** -- the same seed builds the same weights and, in training mode, draws
  the same dropout masks; in eval mode two calls agree.
* **carried state** (LM) -- a sequence run in two pieces, or one token at a time,
  carrying the state, gives what running it whole gives. Truncated BPTT, evaluation
  and generation all depend on it.
* **batch independence** -- in eval mode a row's output does not depend on the other
  rows (an LM's carried state can be cut to one row along dim 1, as beam search does);
  a classifier's output does not depend on what fills the padding.
* **save/load** -- the ``state_dict`` survives a safetensors round trip through the
  functions textrnn's checkpoints use, into a model built with another seed.
* **gradients** -- every parameter gets a finite, non-zero gradient from the loss.

This module imports torch; import it from tests, not from a plugin's ``__init__``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
import torch.nn.functional as F

__all__ = ["check_model", "check_language_model", "check_classifier", "check_forecaster"]

# float32 tolerances: batched and single-row kernels round differently, cuDNN's more than
# MKL's (a bigru's logits differed by 2e-5 on an H100); a broken contract differs by ~0.1
TOLERANCES = {"cpu": (1e-5, 1e-4)}  # device type -> (atol, rtol)
GPU_TOLERANCES = (1e-4, 1e-3)


def check_model(name: str, *, vocab_size: int = 23, device: str = "cpu", **options: Any) -> None:
    """Check a registered model, looked up by ``name``, with the given option values.

    :param name: the name the plugin registered (``textrnn models`` lists them).
    :param vocab_size: vocabulary size to build the model with.
    :param device: where to run the checks (``"cpu"``, ``"cuda"``, ...).
    :param options: model options, as ``--model-option`` would set them; keep the
        model small so the checks take a fraction of a second.
    """
    from .errors import TextrnnError
    from .registry import get_model

    try:
        info = get_model(name)
        values = info.make_options(options)
    except TextrnnError as exc:
        raise AssertionError(f"model {name!r} cannot be built: {exc} "
                             "(is its plugin installed, e.g. with pip install -e .?)") from None
    checks = {"lm": check_language_model, "classifier": check_classifier, "forecast": check_forecaster}
    if info.task not in checks:
        raise AssertionError(f"model {name!r} is a {info.task} model; textrnn.testing has no contracts for that task")
    checks[info.task](info.factory, values, vocab_size=vocab_size, device=device, name=name)


def check_language_model(factory: Callable, options: Any, *, vocab_size: int = 23, batch_size: int = 3,
                         seq_len: int = 10, device: str = "cpu", name: str | None = None) -> None:
    """Check the language-model contracts of ``factory(vocab_size, options)``.

    :param factory: the callable the plugin registers; it returns a ``torch.nn.Module``
        with ``forward(ids, state=None) -> (logits, state)``.
    :param options: an instance of the model's options dataclass.
    :param name: how failures name the model (defaults to the factory's name).
    """
    checker = _Checker(factory, options, vocab_size, device, name)
    with checker.rng():
        ids = checker.random_ids(batch_size, seq_len)
        checker.lm_shapes(ids)
        checker.lm_determinism(ids)
        checker.lm_carried_state(ids)
        checker.lm_batch_independence(ids)
        checker.save_load(lambda model: model(ids)[0])
        checker.gradients(lambda model: F.cross_entropy(
            model(ids[:, :-1])[0].flatten(0, 1), ids[:, 1:].flatten()))


def check_classifier(factory: Callable, options: Any, *, vocab_size: int = 23, batch_size: int = 4,
                     seq_len: int = 9, device: str = "cpu", name: str | None = None) -> None:
    """Check the classifier contracts of ``factory(vocab_size, options)``.

    :param factory: the callable the plugin registers; it returns a ``torch.nn.Module``
        with ``forward(ids, lengths) -> logits``.
    :param options: an instance of the model's options dataclass (``num_classes`` is
        read from it when present).
    :param name: how failures name the model (defaults to the factory's name).
    """
    checker = _Checker(factory, options, vocab_size, device, name)
    with checker.rng():
        ids = checker.random_ids(batch_size, seq_len)
        # rows of different lengths, one of them full and one a single token
        lengths = torch.tensor([seq_len, 1, max(1, seq_len - 3), max(1, seq_len // 2)] * batch_size,
                               device=checker.device)[:batch_size]
        padded = ids.masked_fill(_padding_mask(lengths, seq_len), 0)  # (B, T), right-padded with id 0
        checker.classifier_shapes(padded, lengths)
        checker.classifier_determinism(padded, lengths)
        checker.classifier_batch_independence(ids, padded, lengths)
        checker.save_load(lambda model: model(padded, lengths))
        labels = torch.arange(batch_size, device=checker.device) % _num_classes(options, 2)
        checker.gradients(lambda model: F.cross_entropy(model(padded, lengths), labels))


def check_forecaster(factory: Callable, options: Any, *, vocab_size: int = 0, batch_size: int = 3,
                     context: int = 7, device: str = "cpu", name: str | None = None) -> None:
    """Check the forecaster contracts of ``factory(vocab_size, options)`` (``task="forecast"``).

    A forecaster has ``forward(past, future_known, future_values=None) -> out`` with
    ``past`` (B, C, S + K), ``future_known`` (B, H, K), ``future_values`` (B, H, S) and
    ``out`` (B, H, S) or, with ``options.distribution == "gaussian"``, (B, H, 2 S); ``S``,
    ``K`` and ``H`` are ``options.series_channels``, ``known_channels`` and ``horizon``.
    Checked: output shapes, determinism, batch independence (rows alone give what they
    give in a batch, teacher-forced too), save/load and gradients.
    """
    checker = _Checker(factory, options, vocab_size, device, name)
    series, known, horizon = options.series_channels, options.known_channels, options.horizon
    outputs = series * (2 if getattr(options, "distribution", "none") == "gaussian" else 1)
    generator = torch.Generator().manual_seed(1234)
    past = torch.randn(batch_size, context, series + known, generator=generator).to(checker.device)
    future_known = torch.randn(batch_size, horizon, known, generator=generator).to(checker.device)
    future = torch.randn(batch_size, horizon, series, generator=generator).to(checker.device)

    def forward(model, rows=slice(None), teacher=False, contract="output shapes"):
        out = model(past[rows], future_known[rows], future[rows] if teacher else None)
        expected = [past[rows].shape[0], horizon, outputs]
        if not isinstance(out, torch.Tensor) or list(out.shape) != expected:
            shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            checker.fail(contract, f"forward(past, future_known) returned {shape}, expected (batch, horizon, "
                                   f"outputs) = {expected}")
        return out

    with checker.rng():
        with torch.no_grad():
            for teacher in (False, True):
                if not torch.isfinite(forward(checker.build(), teacher=teacher)).all():
                    checker.fail("output shapes", "forecasts must be finite")
        first, second = checker.build(seed=0, train=True), checker.build(seed=0, train=True)
        checker._same_weights(first, second)
        with torch.no_grad():
            torch.manual_seed(7)
            a = forward(first, contract="determinism")
            torch.manual_seed(7)
            checker.close("determinism", "training-mode forward under the same seed (dropout masks)", a,
                          forward(second, contract="determinism"))
            model = first.eval()
            checker.close("determinism", "two eval-mode calls", forward(model, contract="determinism"),
                          forward(model, contract="determinism"))
            for teacher in (False, True):
                batch = forward(model, teacher=teacher, contract="batch independence")
                for row in range(batch_size):
                    alone = forward(model, slice(row, row + 1), teacher, "batch independence")
                    checker.close("batch independence", f"row {row} run alone (teacher forcing {teacher})",
                                  alone, batch[row:row + 1])
        checker.save_load(lambda m: forward(m))
        checker.gradients(lambda m: forward(m, teacher=True).pow(2).mean() + forward(m).pow(2).mean())


def _padding_mask(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    steps = torch.arange(seq_len, device=lengths.device)
    return steps.unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T) True on padding


def _num_classes(options: Any, default: int | None) -> int | None:
    return getattr(options, "num_classes", default)


class _Checker:
    """Builds the model under test and holds what every contract needs."""

    def __init__(self, factory: Callable, options: Any, vocab_size: int, device: str, name: str | None):
        self.factory = factory
        self.options = options
        self.vocab_size = vocab_size
        self.device = torch.device(device)
        self.atol, self.rtol = TOLERANCES.get(self.device.type, GPU_TOLERANCES)
        self.what = f"model {name!r}" if name else f"factory {getattr(factory, '__qualname__', factory)!r}"

    # -- plumbing ---------------------------------------------------------
    def fail(self, contract: str, detail: str) -> None:
        raise AssertionError(f"contract {contract!r} failed for {self.what}: {detail}")

    @contextlib.contextmanager
    def rng(self):
        """Leave the caller's global RNG as it was: the checks reseed it freely."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            yield

    def build(self, seed: int = 0, train: bool = False) -> torch.nn.Module:
        torch.manual_seed(seed)
        model = self.factory(self.vocab_size, self.options)
        if not isinstance(model, torch.nn.Module):
            self.fail("output shapes", f"the factory returned a {type(model).__name__}, not a torch.nn.Module")
        return model.to(self.device).train(train)

    def random_ids(self, batch_size: int, seq_len: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(1234)
        return torch.randint(0, self.vocab_size, (batch_size, seq_len), generator=generator).to(self.device)

    def close(self, contract: str, what: str, actual: torch.Tensor, expected: torch.Tensor) -> None:
        if actual.shape != expected.shape:
            self.fail(contract, f"{what}: shape {list(actual.shape)}, expected {list(expected.shape)}")
        if not torch.allclose(actual.float(), expected.float(), atol=self.atol, rtol=self.rtol):
            diff = (actual.float() - expected.float()).abs().max().item()
            self.fail(contract, f"{what}: outputs differ by up to {diff:.3g}")

    def close_states(self, contract: str, what: str, actual, expected) -> None:
        if len(actual) != len(expected):
            self.fail(contract, f"{what}: {len(actual)} state tensors, expected {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            self.close(contract, f"{what}, state[{i}]", a, e)

    # -- language models ----------------------------------------------------
    def lm_forward(self, model, ids, state=None, contract: str = "output shapes"):
        out = model(ids, state)
        if not (isinstance(out, tuple) and len(out) == 2):
            self.fail(contract, "forward(ids, state) must return a (logits, state) pair")
        logits, new_state = out
        batch, steps = ids.shape
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (batch, steps, self.vocab_size):
            shape = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            self.fail(contract, f"logits are {shape}, expected (batch, time, vocab) = {[batch, steps, self.vocab_size]}")
        if not isinstance(new_state, tuple) or not new_state:
            self.fail(contract, f"the state must be a non-empty tuple of tensors, got {type(new_state).__name__}")
        for i, s in enumerate(new_state):
            if not isinstance(s, torch.Tensor) or s.dim() < 2 or s.shape[1] != batch:
                shape = list(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                self.fail(contract, f"state[{i}] is {shape}; state tensors need the batch ({batch}) on dim 1")
        return logits, new_state

    def lm_shapes(self, ids):
        with torch.no_grad():
            logits, _ = self.lm_forward(self.build(), ids)
        if not logits.is_floating_point() or not torch.isfinite(logits).all():
            self.fail("output shapes", "logits must be finite floating-point numbers")

    def lm_determinism(self, ids):
        first, second = self.build(seed=0), self.build(seed=0)
        self._same_weights(first, second)
        with torch.no_grad():
            for model in (first, second):
                model.train()
            torch.manual_seed(7)
            a, _ = self.lm_forward(first, ids, contract="determinism")
            torch.manual_seed(7)
            b, _ = self.lm_forward(second, ids, contract="determinism")
            self.close("determinism", "training-mode forward under the same seed (dropout masks)", a, b)
            first.eval()
            a, _ = self.lm_forward(first, ids, contract="determinism")
            b, _ = self.lm_forward(first, ids, contract="determinism")
            self.close("determinism", "two eval-mode calls", a, b)

    def lm_carried_state(self, ids):
        model = self.build()
        cut = ids.shape[1] // 2
        with torch.no_grad():
            whole, whole_state = self.lm_forward(model, ids, None, "carried state")
            head, state = self.lm_forward(model, ids[:, :cut], None, "carried state")
            tail, state = self.lm_forward(model, ids[:, cut:], state, "carried state")
        self.close("carried state", f"first {cut} tokens, then the rest with the carried state",
                   torch.cat([head, tail], dim=1), whole)
        self.close_states("carried state", "final state after two pieces", state, whole_state)
        # generation feeds one token at a time under inference_mode
        with torch.inference_mode():
            state, steps = None, []
            for t in range(ids.shape[1]):
                logits, state = self.lm_forward(model, ids[:, t : t + 1], state, "carried state")
                steps.append(logits)
        self.close("carried state", "one token at a time under torch.inference_mode",
                   torch.cat(steps, dim=1), whole)

    def lm_batch_independence(self, ids):
        model = self.build()
        cut = ids.shape[1] // 2
        with torch.no_grad():
            whole, _ = self.lm_forward(model, ids, None, "batch independence")
            _, state = self.lm_forward(model, ids[:, :cut], None, "batch independence")
            tail, _ = self.lm_forward(model, ids[:, cut:], state, "batch independence")
            for row in range(ids.shape[0]):
                alone, _ = self.lm_forward(model, ids[row : row + 1], None, "batch independence")
                self.close("batch independence", f"row {row} run alone", alone, whole[row : row + 1])
                index = torch.tensor([row], device=self.device)
                row_state = tuple(s.index_select(1, index) for s in state)  # as beam search reorders
                alone, _ = self.lm_forward(model, ids[row : row + 1, cut:], row_state, "batch independence")
                self.close("batch independence", f"row {row} continued alone from its slice (dim 1) of the state",
                           alone, tail[row : row + 1])

    # -- classifiers ----------------------------------------------------------
    def classifier_forward(self, model, ids, lengths, contract: str = "output shapes"):
        logits = model(ids, lengths)
        classes = _num_classes(self.options, None)
        expected = [ids.shape[0], classes if classes is not None else "num_classes"]
        if (not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != ids.shape[0]
                or (classes is not None and logits.shape[1] != classes)):
            shape = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            self.fail(contract, f"forward(ids, lengths) returned {shape}, expected (batch, num_classes) = {expected}")
        return logits

    def classifier_shapes(self, ids, lengths):
        with torch.no_grad():
            logits = self.classifier_forward(self.build(), ids, lengths)
        if not logits.is_floating_point() or not torch.isfinite(logits).all():
            self.fail("output shapes", "logits must be finite floating-point numbers")

    def classifier_determinism(self, ids, lengths):
        first, second = self.build(seed=0), self.build(seed=0)
        self._same_weights(first, second)
        with torch.no_grad():
            for model in (first, second):
                model.train()
            torch.manual_seed(7)
            a = self.classifier_forward(first, ids, lengths, "determinism")
            torch.manual_seed(7)
            b = self.classifier_forward(second, ids, lengths, "determinism")
            self.close("determinism", "training-mode forward under the same seed (dropout masks)", a, b)
            first.eval()
            a = self.classifier_forward(first, ids, lengths, "determinism")
            b = self.classifier_forward(first, ids, lengths, "determinism")
            self.close("determinism", "two eval-mode calls", a, b)

    def classifier_batch_independence(self, ids, padded, lengths):
        model = self.build()
        with torch.no_grad():
            batch = self.classifier_forward(model, padded, lengths, "batch independence")
            # the same texts with random ids instead of 0 in the padding
            noisy = self.classifier_forward(model, ids, lengths, "batch independence")
            self.close("batch independence", "padding filled with other ids", noisy, batch)
            for row in range(ids.shape[0]):
                length = int(lengths[row])
                alone = self.classifier_forward(model, padded[row : row + 1, :length], lengths[row : row + 1],
                                                "batch independence")
                self.close("batch independence", f"row {row} (length {length}) run alone, unpadded",
                           alone, batch[row : row + 1])

    # -- both -----------------------------------------------------------------
    def _same_weights(self, first, second):
        a, b = first.state_dict(), second.state_dict()
        for key, value in a.items():
            if isinstance(value, torch.Tensor) and not torch.equal(value, b[key]):
                self.fail("determinism", f"two models built after torch.manual_seed(0) differ in {key!r}; "
                          "draw initial weights from torch's RNG")

    def save_load(self, run: Callable[[torch.nn.Module], torch.Tensor]):
        import safetensors.torch

        from .errors import CheckpointError
        from .training.checkpoint import load_model_tensors, model_tensors

        model = self.build(seed=0).eval()
        fresh = self.build(seed=1).eval()
        try:
            tensors, meta = model_tensors(model)
            data = safetensors.torch.save(tensors)  # exactly what a checkpoint's model.safetensors holds
            load_model_tensors(fresh, safetensors.torch.load(data), meta)
        except (CheckpointError, RuntimeError, ValueError) as exc:
            self.fail("save/load", f"state_dict does not round-trip through safetensors: {exc}")
        with torch.no_grad():
            self.close("save/load", "a model loaded from the saved state_dict", run(fresh), run(model))

    def gradients(self, loss_of: Callable[[torch.nn.Module], torch.Tensor]):
        model = self.build(train=True)
        loss = loss_of(model)
        loss.backward()
        for key, param in model.named_parameters():
            if not param.requires_grad:
                continue
            if param.grad is None:
                self.fail("gradients", f"parameter {key!r} gets no gradient from the loss; is it used?")
            if not torch.isfinite(param.grad).all():
                self.fail("gradients", f"parameter {key!r} has a non-finite gradient")
            if not param.grad.any():
                self.fail("gradients", f"parameter {key!r} gets an all-zero gradient")
