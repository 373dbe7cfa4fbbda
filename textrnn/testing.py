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
* **truncated BPTT** (LM) -- in training mode, a window run from the previous window's
  state after ``detach()`` backpropagates, twice in a row, as the trainer does.

and then each optional capability the model offers (:mod:`textrnn.contracts`):

* **layer groups** -- ``layer_groups()`` lists every parameter exactly once, no group is
  empty, and the groups run bottom to top: a group's modules run in the forward pass no
  earlier than those of the group below.
* **init from a language model** -- ``init_from_language_model(tensors)`` sets exactly the
  parameters it names (each now differs from its fresh value, and equals the language
  model's tensor of that name where the shapes agree), leaves the others alone, and
  raises ``ValueError`` for a language model that lacks what it needs.
* **embedding** -- ``model.embedding`` is the ``nn.Embedding`` (vocab_size rows) among the
  model's parameters that the forward reads: changing its weights changes the logits.
* **one-token step** -- ``step(ids, state)`` token by token gives the logits and state of
  ``forward`` over the window.
* **fused step layout** -- the fused generation step (:func:`textrnn.inference.make_stepper`)
  gives the logits of ``forward``, primed with a prompt and then token by token.

Tokenizers have :func:`check_tokenizer` (:mod:`textrnn.tokenizer_checks`).

This module imports torch; import it from tests, not from a plugin's ``__init__``.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .contracts import FusedStepLayout, InitFromLanguageModel, LayerGroups, RecurrentStep, TokenEmbedding, supports
from .tokenizer_checks import check_tokenizer

__all__ = ["check_model", "check_language_model", "check_classifier", "check_forecaster", "check_tokenizer"]

# float32 tolerances: batched and single-row kernels round differently, cuDNN's more than
# MKL's (a bigru's logits differed by 2e-5 on an H100); a broken contract differs by ~0.1
TOLERANCES = {"cpu": (1e-5, 1e-4)}  # device type -> (atol, rtol)
GPU_TOLERANCES = (1e-4, 1e-3)
BASIC_CONTRACTS = ["output shapes", "determinism", "carried state", "batch independence", "save/load", "gradients"]


def check_model(name: str, *, vocab_size: int = 23, device: str = "cpu", **options: Any) -> list[str]:
    """Check a registered model, looked up by ``name``, with the given option values.

    :param name: the name the plugin registered (``textrnn models`` lists them).
    :param vocab_size: vocabulary size to build the model with.
    :param device: where to run the checks (``"cpu"``, ``"cuda"``, ...).
    :param options: model options, as ``--model-option`` would set them; keep the
        model small so the checks take a fraction of a second.
    :returns: the names of the contracts checked, optional capabilities included. A
        classifier registered with ``init_from`` is checked against the first language
        model it names, built with the options the two share (sizes).
    """
    from .errors import TextrnnError
    from .registry import get_model

    try:
        info = get_model(name)
        values = info.make_options(options)
    except TextrnnError as exc:
        raise AssertionError(f"model {name!r} cannot be built: {exc} "
                             "(is its plugin installed, e.g. with pip install -e .?)") from None
    if info.task == "lm":
        return check_language_model(info.factory, values, vocab_size=vocab_size, device=device, name=name)
    if info.task == "forecast":
        return check_forecaster(info.factory, values, vocab_size=vocab_size, device=device, name=name)
    if info.task != "classifier":
        raise AssertionError(f"model {name!r} is a {info.task} model; textrnn.testing has no contracts for that task")
    language_model = _language_model_for(info, values) if info.init_from else None
    return check_classifier(info.factory, values, vocab_size=vocab_size, device=device, name=name,
                            language_model=language_model)


def _language_model_for(info, values):
    """``(factory, options)`` of the first language model ``info.init_from`` names, sized like ``values``."""
    import dataclasses

    from .errors import TextrnnError
    from .registry import get_model

    try:
        lm = get_model(info.init_from[0], task="lm")
        names = {f.name for f in dataclasses.fields(lm.options)}
        shared = {k: v for k, v in dataclasses.asdict(values).items() if k in names and not k.endswith("dropout")}
        return lm.factory, lm.make_options(shared)
    except TextrnnError as exc:
        raise AssertionError(f"model {info.name!r} names init_from={info.init_from!r}, "
                             f"but that language model cannot be built at its sizes: {exc}") from None


def check_language_model(factory: Callable, options: Any, *, vocab_size: int = 23, batch_size: int = 3,
                         seq_len: int = 10, device: str = "cpu", name: str | None = None) -> list[str]:
    """Check the language-model contracts of ``factory(vocab_size, options)``.

    :param factory: the callable the plugin registers; it returns a ``torch.nn.Module``
        with ``forward(ids, state=None) -> (logits, state)``.
    :param options: an instance of the model's options dataclass.
    :param name: how failures name the model (defaults to the factory's name).
    :returns: the names of the contracts checked.
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
        checker.lm_truncated_bptt(ids)
        checker.capabilities(lambda model: model(ids)[0], ids=ids)
    return BASIC_CONTRACTS + checker.checked


def check_classifier(factory: Callable, options: Any, *, vocab_size: int = 23, batch_size: int = 4,
                     seq_len: int = 9, device: str = "cpu", name: str | None = None,
                     language_model: tuple[Callable, Any] | None = None) -> list[str]:
    """Check the classifier contracts of ``factory(vocab_size, options)``.

    :param factory: the callable the plugin registers; it returns a ``torch.nn.Module``
        with ``forward(ids, lengths) -> logits``.
    :param options: an instance of the model's options dataclass (``num_classes`` is
        read from it when present).
    :param name: how failures name the model (defaults to the factory's name).
    :param language_model: ``(factory, options)`` of a language model whose weights the
        classifier's ``init_from_language_model`` takes, sized to match.
    :returns: the names of the contracts checked.
    """
    checker = _Checker(factory, options, vocab_size, device, name)
    checker.language_model = language_model
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
        checker.capabilities(lambda model: model(padded, lengths))
    return BASIC_CONTRACTS + checker.checked


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
        self.language_model: tuple[Callable, Any] | None = None
        self.checked: list[str] = []

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

    # -- optional capabilities (textrnn.contracts) -----------------------------
    def lm_truncated_bptt(self, ids):
        """The trainer's inner loop: forward from the detached state of the last window, backward."""
        model = self.build(train=True)
        cut = ids.shape[1] // 2
        state = None
        for window in (ids[:, :cut], ids[:, cut:]):
            logits, state = self.lm_forward(model, window, state, "truncated BPTT")
            try:
                F.cross_entropy(logits.flatten(0, 1), window.flatten()).backward()
            except RuntimeError as exc:
                self.fail("truncated BPTT", f"backward from a window that continues a detached state: {exc}")
            state = tuple(s.detach() for s in state)
        self.checked.append("truncated BPTT")

    def capabilities(self, run: Callable, ids: torch.Tensor | None = None):
        """Check each optional capability the model offers; ``run(model)`` -> logits."""
        model = self.build()
        if supports(model, LayerGroups):
            self.layer_groups(run)
        if supports(model, InitFromLanguageModel):
            self.init_from_language_model(run)
        if supports(model, TokenEmbedding) or hasattr(model, "embedding"):
            self.embedding(run)
        if ids is not None and supports(model, RecurrentStep):
            self.one_token_step(ids)
        if ids is not None and supports(model, FusedStepLayout):
            self.fused_step(ids)

    def layer_groups(self, run: Callable):
        contract = "layer groups"
        model = self.build().eval()
        groups = model.layer_groups()
        if not isinstance(groups, (list, tuple)) or not groups:
            self.fail(contract, "layer_groups() must return a non-empty list of lists of parameters")
        names = {id(p): n for n, p in model.named_parameters()}
        seen: dict[int, int] = {}
        for g, group in enumerate(groups):
            if not list(group):
                self.fail(contract, f"group {g} is empty")
            for p in group:
                if id(p) not in names:
                    self.fail(contract, f"group {g} holds a tensor that is not a parameter of the model")
                if id(p) in seen:
                    self.fail(contract, f"{names[id(p)]!r} is in groups {seen[id(p)]} and {g}")
                seen[id(p)] = g
        missing = [n for i, n in names.items() if i not in seen]
        if missing:
            self.fail(contract, f"no group holds {', '.join(map(repr, missing[:3]))}")
        # a module whose forward is bypassed (a fused kernel called on its weights) has no
        # position; the groups' other modules still fix the order
        first_run = self._first_run_order(model, run)
        below, below_group = -1, None
        for g, group in enumerate(groups):
            known = [first_run[id(p)] for p in group if id(p) in first_run]
            if not known:
                continue
            if min(known) < below:
                self.fail(contract, f"groups must run bottom to top, but a module of group {below_group} runs "
                          f"after one of group {g} in the forward pass")
            below, below_group = max(known), g
        self.checked.append(contract)

    @staticmethod
    def _first_run_order(model: torch.nn.Module, run: Callable) -> dict[int, int]:
        """Parameter id -> the position of its module's first call in one forward pass."""
        order: dict[int, int] = {}
        calls = []

        def hook(module, args):
            calls.append(module)

        handles = [m.register_forward_pre_hook(hook) for m in model.modules()
                   if any(True for _ in m.parameters(recurse=False))]
        try:
            with torch.no_grad():
                run(model)
        finally:
            for handle in handles:
                handle.remove()
        for position, module in enumerate(calls):
            for p in module.parameters(recurse=False):
                order.setdefault(id(p), position)
        return order

    def init_from_language_model(self, run: Callable):
        contract = "init from a language model"
        model = self.build(seed=0)
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        try:
            model.init_from_language_model({})
        except ValueError:
            pass
        else:
            self.fail(contract, "init_from_language_model({}) must raise ValueError naming what is missing")
        if self.language_model is None:
            self.checked.append(contract + " (refuses nothing)")
            return
        lm_factory, lm_options = self.language_model
        torch.manual_seed(1)
        lm_tensors = dict(lm_factory(self.vocab_size, lm_options).to(self.device).state_dict())
        model = self.build(seed=0)
        copied = model.init_from_language_model(lm_tensors)
        after = model.state_dict()
        unknown = [n for n in copied if n not in after]
        if not copied or unknown:
            self.fail(contract, f"returned {unknown or 'no names'}; it must return the names of the parameters it set")
        for key, value in after.items():
            if key in copied:
                if torch.equal(value, before[key]):
                    self.fail(contract, f"says it set {key!r}, which is unchanged")
                source = lm_tensors.get(key)
                if source is not None and source.shape == value.shape and not torch.equal(value, source):
                    self.fail(contract, f"{key!r} does not hold the language model's {key!r}")
            elif not torch.equal(value, before[key]):
                self.fail(contract, f"changed {key!r} without naming it")
        with torch.no_grad():
            logits = run(model.eval())
        if not torch.isfinite(logits).all():
            self.fail(contract, "the initialised model gives non-finite logits")
        self.checked.append(contract)

    def embedding(self, run: Callable):
        contract = "embedding"
        model = self.build().eval()
        table = getattr(model, "embedding", None)
        if not supports(model, TokenEmbedding):
            self.fail(contract, f"model.embedding is a {type(table).__name__}, not a torch.nn.Embedding")
        if table.num_embeddings != self.vocab_size:
            self.fail(contract, f"model.embedding has {table.num_embeddings} rows for a vocabulary of {self.vocab_size}")
        if not any(p is table.weight for p in model.parameters()):
            self.fail(contract, "model.embedding.weight is not a parameter of the model")
        with torch.no_grad():
            before = run(model)
            table.weight.add_(torch.randn_like(table.weight))  # random, so a normalisation cannot cancel it
            after = run(model)
        if torch.allclose(before, after):
            self.fail(contract, "the logits do not change with model.embedding.weight; the forward must read it")
        self.checked.append(contract)

    def one_token_step(self, ids):
        from .inference import step_window

        contract = "one-token step"
        model = self.build().eval()
        with torch.no_grad():
            whole, whole_state = self.lm_forward(model, ids, None, contract)
            stepped, state = step_window(model, ids)
        self.close(contract, "step(ids[:, t], state) for each t", stepped, whole)
        self.close_states(contract, "state after stepping the window", state, whole_state)
        self.checked.append(contract)

    def fused_step(self, ids):
        from .inference import make_stepper

        contract = "fused step layout"
        model = self.build().eval()
        cut = ids.shape[1] // 2
        with torch.inference_mode():
            whole, _ = self.lm_forward(model, ids, None, contract)
            for native in (False, True):  # the PyTorch fused step, and the compiled one where it builds
                stepper = make_stepper(model, self.device, native=native)
                got = [stepper.prime(ids[:, :cut]).clone()]
                got += [stepper.step(ids[:, t]).clone() for t in range(cut, ids.shape[1])]
                self.close(contract, f"{type(stepper).__name__}: prime, then step token by token",
                           torch.stack(got, dim=1), whole[:, cut - 1 :])
        self.checked.append(contract)
