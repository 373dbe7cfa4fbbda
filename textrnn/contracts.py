"""The contracts between textrnn and its model and tokenizer plugins, written down.

Every model has one of two forwards (:class:`LanguageModel` or :class:`Classifier`); any
module has *a* ``forward``, so the task a model is registered for says which one, and the
contract kit checks its behaviour.
Everything else is an optional capability: a model or tokenizer that offers one is
used by the code named in its docstring, and one that does not is handled another way
(or refused with a clear error). Ask with :func:`supports`::

    from textrnn.contracts import LayerGroups, supports

    groups = model.layer_groups() if supports(model, LayerGroups) else [list(model.parameters())]

``supports`` is ``isinstance`` against the runtime-checkable Protocol plus the checks a
Protocol cannot express (an attribute's type, a class-level declaration). The contract
kit, :mod:`textrnn.testing`, checks that what a plugin claims it also keeps
(:func:`textrnn.testing.check_model`, :func:`textrnn.testing.check_tokenizer`).

This module imports no torch: tokenizer code and ``textrnn --help`` use it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import nn

#: The state a language model carries between windows: a non-empty tuple of float tensors,
#: each with the batch on dim 1 (as torch's RNNs lay out ``h`` and ``c``: (layers, B, H)).
#: The trainer detaches it between windows (truncated BPTT) with ``s.detach()`` per tensor;
#: beam search selects rows with ``s.index_select(1, rows)``; a zero state is ``None``.
State = tuple["torch.Tensor", ...]

FUSED_LAYOUT = "embedding-rnn-decoder"
CLASSIFIER_LAYOUT = "embedding-rnn-pool-head"
FUSED_CELLS = ("lstm", "gru", "rnn")  # the torch cells the fused step and export know


# -- the two forwards -----------------------------------------------------------------------

@runtime_checkable
class LanguageModel(Protocol):
    """A language model (``register(..., task="lm")``).

    ``forward(ids, state=None) -> (logits, state)``:

    * ``ids``: (B, T) ``torch.long`` token ids, ``0 <= id < vocab_size``;
    * ``state``: ``None`` (the zero state) or the :data:`State` a previous call returned;
    * ``logits``: (B, T, V) floating point, V the ``vocab_size`` the factory got; position
      t scores the token after ``ids[:, t]``;
    * the returned state continues the sequence: running a window in two pieces,
      carrying the state, gives what running it whole gives (truncated BPTT, evaluation
      and generation rely on it), and row b of the state depends only on row b of ids.

    The trainer, evaluator and :class:`textrnn.inference.ModuleStepper` call exactly this.
    """

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]: ...


@runtime_checkable
class Classifier(Protocol):
    """A text classifier (``register(..., task="classifier")``).

    ``forward(ids, lengths) -> logits``:

    * ``ids``: (B, T) ``torch.long``, right-padded with any id (the trainer pads with 0);
    * ``lengths``: (B,) ``torch.long``, the unpadded length of each row, ``1 <= length <= T``;
    * ``logits``: (B, K) floating point, K = ``options.num_classes``.

    What fills the padding must not change a row's logits, nor may the other rows.
    """

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor: ...


# -- optional model capabilities --------------------------------------------------------------

@runtime_checkable
class LayerGroups(Protocol):
    """A model split into layers for discriminative learning rates and gradual unfreezing
    (Howard & Ruder 2018, ``--discriminative-lr`` and ``--gradual-unfreeze``).

    ``layer_groups()`` returns lists of parameters from the bottom (the embedding) to the
    top (the output head). Every parameter of the model appears in exactly one group and
    no group is empty. The trainer gives group g (of G) the learning rate
    ``lr * decay ** (G - 1 - g)`` and, with gradual unfreezing, trains only the top
    ``epoch + 1`` groups. Without it the whole model is one group.
    """

    def layer_groups(self) -> list[list[nn.Parameter]]: ...


@runtime_checkable
class InitFromLanguageModel(Protocol):
    """A classifier that can start from a trained language model's weights (``init_from``).

    ``init_from_language_model(tensors)`` takes the LM checkpoint's tensors by name
    (``{"embedding.weight": ..., "rnn.weight_ih_l0": ...}``, tied aliases included), copies
    what it uses into its own parameters under ``torch.no_grad`` and returns the names of
    its own parameters it set. Each of those must then hold values taken from ``tensors``;
    parameters it does not name are left as they were. A missing or mis-shaped tensor
    raises :class:`ValueError` naming it. The classifier's registration says which
    language models it starts from (``register(..., init_from=("lstm",))``), which is how
    ``train classifier --init-from RUN`` picks a model when none is given.
    """

    def init_from_language_model(self, tensors: dict[str, torch.Tensor]) -> list[str]: ...


@runtime_checkable
class TokenEmbedding(Protocol):
    """A model whose token embedding is ``self.embedding``, an ``nn.Embedding`` (V, E)
    that every forward reads. Adversarial training (``--adversarial``, Miyato et al. 2017)
    perturbs ``embedding.weight`` along its gradient; export and the fused step read it."""

    embedding: nn.Embedding


@runtime_checkable
class RecurrentStep(Protocol):
    """An LM with an O(1) one-token form beside its window ``forward``.

    ``step(ids, state)`` takes one token per row, ids (B,), and the state ``forward``
    returns (``None`` for the zero state); it returns ``(logits (B, V), state)`` equal to
    ``forward(ids[:, None], state)`` without the time axis. Models trained with a parallel
    scan implement it so that generation does not run the scan's machinery per token
    (:class:`textrnn.inference.ModelStepStepper`).
    """

    def step(self, ids: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]: ...


@runtime_checkable
class FusedStepLayout(Protocol):
    """An LM whose class promises the layout the hand-fused generation step relies on
    (:class:`textrnn.inference.FusedRecurrentStepper`, the compiled step of
    :mod:`textrnn.native`, and :mod:`textrnn.export`).

    * ``fused_step_layout = "embedding-rnn-decoder"`` (:data:`FUSED_LAYOUT`) set on the
      class itself, not inherited: a subclass may override ``forward`` and must opt in again;
    * ``cell``: ``"lstm"``, ``"gru"`` or ``"rnn"`` (:data:`FUSED_CELLS`);
    * ``embedding``: ``nn.Embedding`` (V, E);
    * ``rnn``: a torch ``nn.LSTM``/``nn.GRU``/``nn.RNN`` with ``batch_first=True``,
      ``bias=True``, one direction and no projection; its ``weight_ih_l{k}``,
      ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` are read per layer k;
    * ``decoder``: ``nn.Linear`` (H -> V) with a bias (``decoder.weight`` may be
      ``embedding.weight``, tied);
    * ``forward`` is exactly embedding -> rnn -> decoder, with only dropout in between,
      and its state is ``(h, c)`` for an LSTM and ``(h,)`` otherwise, each (layers, B, H).
    """

    fused_step_layout: str
    cell: str
    embedding: nn.Embedding
    rnn: nn.Module
    decoder: nn.Linear


@runtime_checkable
class ClassifierLayout(Protocol):
    """A classifier that :mod:`textrnn.export` can write out: its class sets
    ``classifier_layout = "embedding-rnn-pool-head"`` (:data:`CLASSIFIER_LAYOUT`) and it has
    ``embedding``, ``rnn`` (a batch-first, possibly bidirectional ``nn.LSTM``/``nn.GRU``)
    over the real tokens, ``pool(states, mask, lengths)``, ``head`` (``nn.Linear``) and
    ``options.pooling``."""

    classifier_layout: str
    cell: str
    embedding: nn.Embedding
    rnn: nn.Module
    head: nn.Linear


# -- tokenizers ----------------------------------------------------------------------------

@runtime_checkable
class TokenizerContract(Protocol):
    """What textrnn uses of a tokenizer (:class:`textrnn.tokenizers.Tokenizer` implements
    the plumbing; a plugin subclasses it).

    * ``type_name``: the name it is registered under; ``tokenizer.json`` stores it.
    * ``granularity``: ``"char"``, ``"subword"`` or ``"word"``, what a token is; the
      training defaults (:mod:`textrnn.training.lm_defaults`) pick sizes by it.
    * ``vocab_size``: ids are ``0 <= id < vocab_size``; every ``encode`` output keeps to it.
    * ``encode(text) -> list[int]`` and ``decode(ids) -> str``; for text made of what the
      tokenizer was trained on, ``decode(encode(text)) == text``.
    * ``newline_id``: the id that generation starts from with an empty prompt, or ``None``.
    * ``unknown_ids()``: ids that generation never samples (``<unk>``); each < vocab_size.
    * ``to_meta()`` (JSON-able) with ``save_files(dir)``/``from_meta(meta, dir)`` rebuild
      an equal tokenizer: same ids for every text and the same fingerprint.
    * ``file_bytes()``: ``{file name: bytes}`` of every file ``save_files`` writes, the
      same bytes on every call; :meth:`fingerprint` hashes them with ``to_meta()``.
    * ``fingerprint()``: a hex sha256 that identifies the vocabulary; stable across
      calls, processes and a save/load round trip. Runs and the token cache key on it.
    """

    type_name: str
    granularity: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    @property
    def newline_id(self) -> int | None: ...

    def unknown_ids(self) -> list[int]: ...

    def to_meta(self) -> dict[str, Any]: ...

    def save_files(self, directory: Path) -> list[str]: ...

    def file_bytes(self) -> dict[str, bytes]: ...

    def fingerprint(self) -> str: ...


@runtime_checkable
class ThreadedEncoding(Protocol):
    """A tokenizer whose ``encode``/``encode_batch`` already spreads over the cores
    (sentencepiece's own threads). It sets the class attribute ``threaded_encode = True``,
    and :mod:`textrnn.data.lm_data` then tokenizes a large corpus in-process instead of
    in a pool of worker processes (on 2 cores, 20 MB of bpe took 3.9-5.2 s in-process
    against 5.8-6.1 s in a pool of 2: benchmarks/tokenize_throughput.py --workers 1|2)."""

    threaded_encode: bool


@runtime_checkable
class PerTokenDecoding(Protocol):
    """A tokenizer for which ``decode(ids) == "".join(id_to_text(i) for i in ids)`` always
    holds; it sets ``decodes_per_token = True`` and generation streams each token's text
    alone (:func:`textrnn.generation.stream_decoder`)."""

    decodes_per_token: bool

    def id_to_text(self, token_id: int) -> str: ...


@runtime_checkable
class StreamDecoding(Protocol):
    """A tokenizer with an exact incremental decoder: ``stream_decoder()`` returns an object
    with ``push(id) -> new text`` and ``flush() -> rest`` whose pieces join to ``decode``."""

    def stream_decoder(self) -> Any: ...


# -- asking ---------------------------------------------------------------------------------

def _declares(attribute: str) -> Callable[[Any], bool]:
    """A flag capability is on only when set to ``True`` (the base class sets it ``False``)."""
    return lambda obj: getattr(obj, attribute, None) is True


def _has_embedding(model: Any) -> bool:
    from torch import nn

    return isinstance(getattr(model, "embedding", None), nn.Embedding)


def _has_fused_layout(model: Any) -> bool:
    from torch import nn

    if vars(type(model)).get("fused_step_layout") != FUSED_LAYOUT or getattr(model, "cell", None) not in FUSED_CELLS:
        return False
    rnn, decoder = model.rnn, model.decoder
    return (isinstance(rnn, nn.RNNBase) and _has_embedding(model) and isinstance(decoder, nn.Linear)
            and rnn.bias and rnn.batch_first and not rnn.bidirectional and getattr(rnn, "proj_size", 0) == 0
            and decoder.bias is not None)


def _has_classifier_layout(model: Any) -> bool:
    from torch import nn

    if vars(type(model)).get("classifier_layout") != CLASSIFIER_LAYOUT:
        return False
    rnn = model.rnn
    return (isinstance(rnn, (nn.LSTM, nn.GRU)) and rnn.bias and rnn.batch_first and getattr(rnn, "proj_size", 0) == 0
            and _has_embedding(model) and isinstance(getattr(model, "head", None), nn.Linear)
            and callable(getattr(model, "pool", None)))


# What a runtime-checkable Protocol cannot see: an attribute's type or value, a declaration
# on the class itself. ``supports`` runs these after the isinstance check.
_FURTHER_CHECKS: dict[type, Callable[[Any], bool]] = {
    TokenEmbedding: _has_embedding,
    FusedStepLayout: _has_fused_layout,
    ClassifierLayout: _has_classifier_layout,
    ThreadedEncoding: _declares("threaded_encode"),
    PerTokenDecoding: _declares("decodes_per_token"),
}


def supports(obj: Any, capability: type) -> bool:
    """Whether ``obj`` (a model or tokenizer) offers ``capability``, one of this module's Protocols."""
    if not isinstance(capability, type) or not getattr(capability, "_is_runtime_protocol", False):
        raise TypeError(f"{capability!r} is not a capability of textrnn.contracts")
    if not isinstance(obj, capability):
        return False
    further = _FURTHER_CHECKS.get(capability)
    return further is None or further(obj)


MODEL_CAPABILITIES = (LayerGroups, InitFromLanguageModel, TokenEmbedding, RecurrentStep, FusedStepLayout,
                      ClassifierLayout)
TOKENIZER_CAPABILITIES = (ThreadedEncoding, PerTokenDecoding, StreamDecoding)


def capabilities(obj: Any, candidates: Iterable[type] | None = None) -> list[str]:
    """Names of the optional capabilities ``obj`` offers (for messages and the contract kit)."""
    if candidates is None:
        candidates = MODEL_CAPABILITIES + TOKENIZER_CAPABILITIES
    return [c.__name__ for c in candidates if supports(obj, c)]
