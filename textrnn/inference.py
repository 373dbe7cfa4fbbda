"""One-token inference steps for language models: the inner loop of generation.

``make_stepper(model, device)`` returns a :class:`Stepper`:

* ``prime(ids)`` runs a whole prompt (B, T) through the model's own fused forward once,
  keeps the final state and returns the last position's logits (B, V);
* ``step(ids)`` feeds one token per row (B,) and returns the next logits (B, V);
* ``reorder(index)`` selects or repeats batch rows of the carried state (beam search,
  dropping finished samples, expanding one primed prompt into many samples);
* ``load_state(state)`` replaces the carried state, for example with rows of several
  separately primed prompts joined by :func:`join_batch` (continuous batching).

For the first-party ``RecurrentLanguageModel`` (lstm, gru, rnn) the step is hand-fused:
weights are arranged once, layer 0's input projection becomes a row lookup in a
precomputed (V, G*H) table, and the state is updated in place. On CUDA that step is
captured once in a CUDA graph and replayed. A model with its own one-token form
(:class:`RecurrentStep`: ``step(ids, state)``, as the scan-trained families have) is
stepped with it, and on CUDA that step is captured and replayed the same way. Any other
LM falls back to calling the module with a length-1 sequence.

A stepper copies or shares the weights when it is built: build a new one after the weights change.
It assumes the model is in eval mode (dropout off) and runs under ``torch.inference_mode``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from . import native as native_step
# FUSED_LAYOUT and RecurrentStep are re-exported: they were defined here before textrnn.contracts
from .contracts import FUSED_LAYOUT, FusedStepLayout, RecurrentStep, State, supports  # noqa: F401


# Largest layer-0 lookup table (V x G*H elements) worth precomputing; past it (big
# sentencepiece vocabularies) layer 0 gathers embeddings and multiplies instead.
TABLE_MAX_ELEMENTS = 1 << 25  # 128 MiB in fp32

_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


class Stepper:
    """Carries a recurrent state and advances it one token at a time."""

    def prime(self, ids: torch.Tensor) -> torch.Tensor:
        """Run prompt ``ids`` (B, T) from a zero state; return last-position logits (B, V)."""
        raise NotImplementedError

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """Feed one token per row, ``ids`` (B,); return logits (B, V).

        The returned tensor may be a buffer that the next call overwrites.
        """
        raise NotImplementedError

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (B',) of the state, in that order; rows may repeat."""
        raise NotImplementedError

    def load_state(self, state: Any) -> None:
        """Carry ``state`` (the shape of :attr:`state`, any batch size) from now on."""
        raise NotImplementedError

    @property
    def state(self) -> Any:
        raise NotImplementedError


def _inference(method):
    """Run ``method`` under inference mode, entering it only when not already inside."""

    def wrapper(self, *args):
        if torch.is_inference_mode_enabled():
            return method(self, *args)
        with torch.inference_mode():
            return method(self, *args)

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


def select_batch(state: Any, index: torch.Tensor) -> Any:
    """Select batch rows of a state made of tensors shaped (num_layers, B, ...), nested in tuples."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(1, index)
    return type(state)(select_batch(s, index) for s in state)


def join_batch(states: list[Any]) -> Any:
    """Concatenate the batch rows of several states of one structure (see :func:`select_batch`)."""
    if isinstance(states[0], torch.Tensor):
        return torch.cat(states, dim=1)
    return type(states[0])(join_batch(list(parts)) for parts in zip(*states))


class ModuleStepper(Stepper):
    """Generic path: ``model(ids[:, None], state)`` per token.

    Works for any LM with ``forward(ids, state=None) -> (logits, state)``; ``reorder``
    assumes the state's tensors have the batch on dim 1, as torch's RNN modules do.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self._state = None

    @_inference
    def prime(self, ids):
        logits, self._state = self.model(ids)  # (B, T, V)
        return logits[:, -1]

    @_inference
    def step(self, ids):
        logits, self._state = self.model(ids[:, None], self._state)  # (B, 1, V)
        return logits[:, -1]

    @_inference
    def reorder(self, index):
        self._state = select_batch(self._state, index)

    def load_state(self, state):
        self._state = state

    @property
    def state(self):
        return self._state


def step_window(model: RecurrentStep, ids: torch.Tensor, state: State | None = None):
    """``model.step`` over a window, ids (B, T) -> (logits (B, T, V), state): the one-token
    form run where ``forward`` would be, to test one against the other or time them."""
    logits = []
    for t in range(ids.shape[1]):
        step_logits, state = model.step(ids[:, t], state)  # (B, V)
        logits.append(step_logits)
    return torch.stack(logits, dim=1), state


class ModelStepStepper(Stepper):
    """Steps a :class:`RecurrentStep` model with its own ``step``.

    The state lives in buffers that keep their identity while the batch size is unchanged
    (each step's new state is copied into them), so :class:`CudaGraphStepper` can capture
    and replay the step as it does the fused one.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self._state: State | None = None
        self.layout_version = 0  # bumped whenever the buffers are reallocated

    @property
    def state(self) -> State | None:
        return self._state

    def _load_state(self, state: State) -> None:
        if self._state is not None and [s.shape for s in self._state] == [s.shape for s in state]:
            for buffer, value in zip(self._state, state):
                buffer.copy_(value)
            return
        self._state = tuple(s.contiguous().clone() for s in state)
        self.layout_version += 1

    @_inference
    def prime(self, ids):
        logits, state = self.model(ids)  # (B, T, V): the parallel window form
        self._load_state(state)
        return logits[:, -1]

    @_inference
    def step(self, ids):
        logits, state = self.model.step(ids, self._state)  # (B, V)
        if self._state is None:  # not primed: start from the zero state
            self._load_state(state)
        for buffer, value in zip(self._state, state):
            buffer.copy_(value)
        return logits

    @_inference
    def reorder(self, index):
        self._load_state(select_batch(self._state, index))


@dataclass
class _LayerWeights:
    """One layer's weights, transposed for ``x @ w``: views of the module's weights until the
    PyTorch step first runs, then contiguous copies (faster for batches)."""

    input_weight: torch.Tensor | None  # (In, G*H); None for layer 0 when the table is used
    hidden_weight: torch.Tensor  # (H, G*H)
    bias: torch.Tensor  # (G*H,) every bias that is simply added to the gates
    hidden_bias: torch.Tensor | None  # (G*H,) GRU only: zeros, zeros, b_hn (inside r * (...))


def _arrange_layer(rnn: nn.RNNBase, layer: int, cell: str) -> _LayerWeights:
    """Weights of one layer arranged for the fused step; gate blocks keep torch's order."""
    hidden = rnn.hidden_size
    b_ih = getattr(rnn, f"bias_ih_l{layer}")  # (G*H,)
    b_hh = getattr(rnn, f"bias_hh_l{layer}")
    hidden_bias = None
    if cell == "gru":
        # n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) as in torch and cuDNN (Cho et al. 2014
        # put r before the product): b_hn stays with h, b_hr and b_hz join the input biases
        bias = b_ih + torch.cat([b_hh[: 2 * hidden], torch.zeros_like(b_hh[2 * hidden :])])
        hidden_bias = torch.cat([torch.zeros_like(b_hh[: 2 * hidden]), b_hh[2 * hidden :]])
    else:
        bias = b_ih + b_hh
    return _LayerWeights(
        input_weight=getattr(rnn, f"weight_ih_l{layer}").detach().t(),  # (In, G*H)
        hidden_weight=getattr(rnn, f"weight_hh_l{layer}").detach().t(),  # (H, G*H)
        bias=bias,
        hidden_bias=hidden_bias,
    )


class _Scratch:
    """Per-layer work buffers for batch size B, with the gate views made once, not per step."""

    def __init__(self, cell: str, batch: int, hidden: int, like: torch.Tensor, embedding_dim: int | None):
        gates = _GATES[cell]
        self.gates = like.new_empty(batch, gates * hidden)  # (B, G*H) pre-activations
        self.embedded = like.new_empty(batch, embedding_dim) if embedding_dim else None  # (B, E)
        if cell == "lstm":  # gate blocks i, f, g, o
            self.i, self.f, self.g, self.o = self.gates.chunk(4, 1)
            self.input_forget = self.gates[:, : 2 * hidden]
            self.tanh_c = like.new_empty(batch, hidden)  # (B, H)
        elif cell == "gru":  # r, z, n; the hidden side kept apart since r scales its n block
            self.hidden_gates = like.new_empty(batch, 3 * hidden)  # (B, 3H)
            self.rz, self.n = self.gates[:, : 2 * hidden], self.gates[:, 2 * hidden :]
            self.r, self.z = self.rz.chunk(2, 1)
            self.hidden_rz, self.hidden_n = self.hidden_gates[:, : 2 * hidden], self.hidden_gates[:, 2 * hidden :]


class FusedRecurrentStepper(Stepper):
    """Hand-fused single step for ``RecurrentLanguageModel`` (lstm, gru, rnn).

    Per token and layer: one table lookup (layer 0) or addmm for the input, one addmm for
    the hidden state, then the gate arithmetic in place on preallocated buffers. The state
    and work buffers keep their identity while the batch size is unchanged, which is what
    lets :class:`CudaGraphStepper` replay a captured step.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.cell = model.cell
        rnn = model.rnn
        self.hidden_size = rnn.hidden_size
        self.num_layers = rnn.num_layers
        self._relu = self.cell == "rnn" and rnn.nonlinearity == "relu"
        self._state: State | None = None
        self.layout_version = 0  # bumped whenever the buffers are reallocated
        with torch.inference_mode():
            self._arrange(model)

    def _arrange(self, model: nn.Module) -> None:
        self.layers: list[_LayerWeights] = []
        self.table = self.embedding = None
        for layer in range(self.num_layers):
            weights = _arrange_layer(model.rnn, layer, self.cell)
            if layer == 0:
                if model.embedding.num_embeddings * weights.input_weight.shape[1] <= TABLE_MAX_ELEMENTS:
                    # layer 0's input projection of every token at once: (V, E) @ (E, G*H) + biases
                    self.table = torch.addmm(weights.bias, model.embedding.weight, weights.input_weight)  # (V, G*H)
                    weights.input_weight = None
                else:
                    self.embedding = model.embedding.weight.detach()  # (V, E)
            self.layers.append(weights)
        self.decoder_weight = model.decoder.weight.detach().t()  # (H, V)
        self.decoder_bias = model.decoder.bias.detach()  # (V,)
        self._contiguous = False

    def _make_contiguous(self) -> None:
        """Copy the transposed weights into contiguous memory: done by the first PyTorch
        step, so a stepper whose steps all run elsewhere (the compiled step) never pays it."""
        for weights in self.layers:
            if weights.input_weight is not None:
                weights.input_weight = weights.input_weight.contiguous()
            weights.hidden_weight = weights.hidden_weight.contiguous()
        self.decoder_weight = self.decoder_weight.contiguous()
        self._contiguous = True

    @property
    def state(self) -> State | None:
        """The carried state, (h, c) or (h,), each (num_layers, B, H); updated in place."""
        return self._state

    def _load_state(self, state: State) -> None:
        """Copy ``state`` into the current buffers, or reallocate them when the batch size changed."""
        if self._state is not None and self._state[0].shape == state[0].shape:
            for buffer, value in zip(self._state, state):
                buffer.copy_(value)
            return
        self._state = tuple(s.contiguous().clone() for s in state)
        h = self._state[0]  # (L, B, H)
        batch, hidden = h.shape[1], self.hidden_size
        embedding_dim = self.embedding.shape[1] if self.embedding is not None else None
        self._scratch = [_Scratch(self.cell, batch, hidden, h, embedding_dim if layer == 0 else None)
                         for layer in range(self.num_layers)]
        self._layer_states = list(zip(*(s.unbind(0) for s in self._state)))  # per layer: (h, c) views, (B, H)
        self.layout_version += 1

    @_inference
    def prime(self, ids):
        logits, state = self.model(ids)  # (B, T, V); the module's fused (cuDNN / MKL) forward
        self._load_state(state)
        return logits[:, -1]

    @_inference
    def reorder(self, index):
        self._load_state(tuple(s.index_select(1, index) for s in self._state))

    @_inference
    def load_state(self, state):
        self._load_state(tuple(state))

    @_inference
    def step(self, ids):
        if not self._contiguous:
            self._make_contiguous()
        x = None
        for layer, (weights, scratch) in enumerate(zip(self.layers, self._scratch)):
            if layer > 0:
                torch.addmm(weights.bias, x, weights.input_weight, out=scratch.gates)  # (B, G*H)
            elif self.table is not None:
                torch.index_select(self.table, 0, ids, out=scratch.gates)  # (B, G*H), biases included
            else:
                torch.index_select(self.embedding, 0, ids, out=scratch.embedded)  # (B, E)
                torch.addmm(weights.bias, scratch.embedded, weights.input_weight, out=scratch.gates)
            x = self._cell(weights, scratch, *self._layer_states[layer])  # (B, H): this layer's new h
        return torch.addmm(self.decoder_bias, x, self.decoder_weight)  # (B, V)

    def _cell(self, weights: _LayerWeights, s: _Scratch, h: torch.Tensor, c: torch.Tensor | None = None):
        """Update one layer's state views ``h`` (and ``c``), (B, H), in place from ``s.gates``."""
        if self.cell == "lstm":
            s.gates.addmm_(h, weights.hidden_weight)
            s.input_forget.sigmoid_()
            s.o.sigmoid_()
            s.g.tanh_()
            c.mul_(s.f).addcmul_(s.i, s.g)  # c' = f * c + i * g
            torch.tanh(c, out=s.tanh_c)
            return torch.mul(s.o, s.tanh_c, out=h)  # h' = o * tanh(c')
        if self.cell == "gru":
            torch.addmm(weights.hidden_bias, h, weights.hidden_weight, out=s.hidden_gates)
            s.rz.add_(s.hidden_rz).sigmoid_()
            s.n.addcmul_(s.r, s.hidden_n).tanh_()  # n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
            return torch.lerp(s.n, h, s.z, out=h)  # h' = (1 - z) * n + z * h, in one kernel
        s.gates.addmm_(h, weights.hidden_weight)  # (B, H)
        if self._relu:
            return torch.clamp_min(s.gates, 0.0, out=h)
        return torch.tanh(s.gates, out=h)


class NativeRecurrentStepper(FusedRecurrentStepper):
    """:class:`FusedRecurrentStepper` whose one-row steps run in the compiled CPU step
    (:mod:`textrnn.native`), which can also choose the next tokens itself (:meth:`draw_steps`).

    Batches of more than one row keep the PyTorch step: there the matrix products dominate.
    """

    def __init__(self, model: nn.Module, lib):
        super().__init__(model)
        cell = self.cell if self.cell != "rnn" else ("rnn_relu" if self._relu else "rnn_tanh")
        hidden = self.hidden_size
        layers = range(self.num_layers)

        def weight(name: str, layer: int) -> torch.Tensor:  # torch's own layout, shared, not copied
            return getattr(model.rnn, f"{name}_l{layer}").detach().contiguous()

        with torch.inference_mode():
            self._model, self._keep = native_step.bind(
                cell=cell, layers=self.num_layers, hidden=hidden, vocab=model.decoder.out_features,
                table=self.table, embedding=self.embedding,
                input_weights=[None if (layer == 0 and self.table is not None) else weight("weight_ih", layer)
                               for layer in layers],
                hidden_weights=[weight("weight_hh", layer) for layer in layers],
                biases=[w.bias for w in self.layers],
                hidden_biases=[weight("bias_hh", layer)[2 * hidden :].contiguous() if self.cell == "gru" else None
                               for layer in layers],
                decoder_weight=model.decoder.weight.detach().contiguous(), decoder_bias=self.decoder_bias,
                h=None, c=None, lib=lib)
        self._lib = lib
        self._logits = self._keep["logits"][None]  # (1, V) view of the buffer the step writes
        self._bound_version = -1

    def draws(self) -> bool:
        """Whether the compiled step runs (and :meth:`draw_steps` can choose): the batch has one row."""
        return self._state is not None and self._state[0].shape[1] == 1

    def _bind_state(self) -> bool:
        """Point the compiled step at the state buffers; False unless :meth:`draws`."""
        if not self.draws():
            return False
        if self._bound_version != self.layout_version:
            self._model.h = self._state[0].data_ptr()  # (L, 1, H) contiguous: L rows of H
            self._model.c = self._state[1].data_ptr() if self.cell == "lstm" else None
            self._bound_version = self.layout_version
        return True

    @_inference
    def step(self, ids):
        if not self._bind_state():
            return super().step(ids)
        if self._lib.textrnn_step(self._model, int(ids[0])) != 0:
            self._outside_vocabulary(ids)
        return self._logits

    def _outside_vocabulary(self, ids: torch.Tensor):
        raise IndexError(f"token id {int(ids[0])} is outside the vocabulary of {self._logits.shape[1]}")

    @_inference
    def draw_steps(self, ids: torch.Tensor, steps: int, uniforms: torch.Tensor | None, options,
                   bias: torch.Tensor | None, seen: torch.Tensor | None = None) -> torch.Tensor:
        """Feed ``ids`` (1,), then ``steps`` times choose the next token and feed it on; (1, steps).

        Chooses as :func:`textrnn.sampling.choose_next` does with ``options``, ``bias`` and
        ``seen`` (1, V) bool, which it updates as generation does; ``uniforms`` (1, steps)
        are the uniform numbers of the draws (``None`` when greedy). Only where :meth:`draws`.
        """
        self._bind_state()
        out = torch.empty(1, steps, dtype=torch.long)
        # named, so that these tensors outlive the call that reads them
        uniforms = None if uniforms is None else uniforms.to("cpu", torch.float32).contiguous()
        bias = None if bias is None else bias.to("cpu", torch.float32).contiguous()
        if seen is not None and not (seen.dtype == torch.bool and seen.is_contiguous() and seen.device.type == "cpu"):
            raise ValueError("seen must be a contiguous bool CPU tensor: the compiled step updates it in place")
        choice = native_step.Choice(
            bias=None if bias is None else bias.data_ptr(), seen=None if seen is None else seen.data_ptr(),
            temperature=options.temperature, top_p=1.0 if options.top_p is None else options.top_p,
            repetition_penalty=options.repetition_penalty, top_k=min(options.top_k or 0, self._logits.shape[1]),
            greedy=int(options.greedy))
        if self._lib.textrnn_sample(self._model, int(ids[0]), steps,
                                    None if uniforms is None else uniforms.data_ptr(), choice, out.data_ptr()) != 0:
            self._outside_vocabulary(ids)
        return out


class CudaGraphStepper(Stepper):
    """Replays a CUDA graph of :class:`FusedRecurrentStepper`'s or :class:`ModelStepStepper`'s step.

    The step is captured per batch size with static input ids and the stepper's state
    buffers; ``step`` copies the ids in, replays and returns the static logits buffer.
    If capture fails the stepper warns once and runs the fused step without a graph.
    """

    def __init__(self, inner: FusedRecurrentStepper | ModelStepStepper):
        self.inner = inner
        self.enabled = True
        self._graph = None
        self._graph_version = -1
        self._static_ids: torch.Tensor | None = None
        self._static_logits: torch.Tensor | None = None
        self._chunk_key = None  # what the sampling graph of ``sample_steps`` was captured for

    @property
    def state(self):
        return self.inner.state

    def prime(self, ids):
        return self.inner.prime(ids)

    def reorder(self, index):
        self.inner.reorder(index)

    def load_state(self, state):
        self.inner.load_state(state)

    @_inference
    def step(self, ids):
        if self.enabled and self._graph_version != self.inner.layout_version:
            self._capture(ids)
        if not self.enabled:
            return self.inner.step(ids)
        self._static_ids.copy_(ids)
        self._graph.replay()
        return self._static_logits

    def _capture(self, ids: torch.Tensor) -> None:
        self._static_ids = ids.clone()
        self._static_logits = None

        def body():
            self._static_logits = self.inner.step(self._static_ids)  # (B, V)

        self._graph = self._graph_of(body, ids.device, warmups=3)
        self._graph_version = self.inner.layout_version

    def _graph_of(self, body, device, warmups: int = 1, mutable=()) -> "torch.cuda.CUDAGraph | None":
        """Capture ``body()`` as a CUDA graph after warm-up runs on a side stream (as
        torch.cuda.graphs documents). The warm-ups advance the state and ``mutable``: both
        are put back. If capture fails, warn once and disable graphs: ``None``."""
        saved = [t.clone() for t in (*self.inner.state, *mutable)]
        graph = None
        try:
            side = torch.cuda.Stream(device=device)
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                for _ in range(warmups):
                    body()
            torch.cuda.current_stream(device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                body()
        except Exception as exc:  # noqa: BLE001 - any capture failure means: run uncaptured
            self.enabled, graph = False, None
            warnings.warn(f"CUDA graph capture failed, generating without it: {exc}", RuntimeWarning, stacklevel=4)
        for buffer, value in zip((*self.inner.state, *mutable), saved):
            buffer.copy_(value)
        return graph

    @_inference
    def sample_steps(self, ids: torch.Tensor, steps: int, uniforms: torch.Tensor | None, choose,
                     mutable=()) -> torch.Tensor | None:
        """Run ``steps`` steps in one graph replay, each fed the token ``choose`` picked after the last.

        :param ids: (B,) tokens to feed first.
        :param uniforms: (B, steps) random numbers, column ``k`` for step ``k``; ``None``
            when ``choose`` needs none (greedy).
        :param choose: ``choose(logits (B, V), uniforms (B,) or None) -> ids (B,)``, made of
            CUDA-graph-safe ops (no host sync); it may update buffers in place (``mutable``).
        :param mutable: tensors ``choose`` writes to, restored after the warm-up run.
        :return: (B, steps) chosen tokens, or ``None`` when capture failed (then use ``step``).

        Sampling inside the graph removes the per-token host round trip that otherwise
        bounds one-sequence generation on a GPU. One graph per (batch size, steps, choose).
        """
        key = (self.inner.layout_version, tuple(ids.shape), steps, id(choose))
        if self.enabled and self._chunk_key != key:
            self._chunk_ids = ids.clone()
            self._chunk_uniforms = uniforms.clone() if uniforms is not None else None
            self._chunk_out = ids.new_empty(ids.shape[0], steps)  # (B, steps)

            def body():
                fed = self._chunk_ids
                for k in range(steps):
                    column = self._chunk_uniforms[:, k] if self._chunk_uniforms is not None else None
                    fed = choose(self.inner.step(fed), column)
                    self._chunk_out[:, k].copy_(fed)

            self._chunk_graph = self._graph_of(body, ids.device, mutable=mutable)
            self._chunk_key = key if self._chunk_graph is not None else None
        if self._chunk_key != key:
            return None
        self._chunk_ids.copy_(ids)
        if uniforms is not None:
            self._chunk_uniforms.copy_(uniforms)
        self._chunk_graph.replay()
        return self._chunk_out


def has_fused_layout(model: nn.Module) -> bool:
    """True for a model that keeps the :class:`textrnn.contracts.FusedStepLayout` contract
    (also what :mod:`textrnn.export` needs to write a language model out)."""
    return supports(model, FusedStepLayout)


def make_stepper(model: nn.Module, device: str | torch.device = "cpu", *, fused: bool = True,
                 native: bool = True) -> Stepper:
    """Return the fastest stepper for ``model`` (already on ``device``, in eval mode).

    :param model: an LM with ``forward(ids, state=None) -> (logits, state)``.
    :param device: where the model lives; on CUDA the fused step (or a :class:`RecurrentStep`
        model's own step) is replayed as a CUDA graph;
        on the CPU, in float32, one-row steps run compiled (:mod:`textrnn.native`) where a C
        compiler is available.
    :param fused: ``False`` forces the generic :class:`ModuleStepper` (for tests and comparisons).
    :param native: ``False`` keeps the PyTorch fused step on the CPU.
    """
    device = torch.device(device)
    if fused and has_fused_layout(model):
        if device.type == "cuda":
            return CudaGraphStepper(FusedRecurrentStepper(model))
        if native and device.type == "cpu" and all(p.dtype == torch.float32 for p in model.parameters()):
            lib = native_step.library()
            if lib is not None:
                return NativeRecurrentStepper(model, lib)
        return FusedRecurrentStepper(model)
    if fused and supports(model, RecurrentStep):
        stepper = ModelStepStepper(model)
        return CudaGraphStepper(stepper) if device.type == "cuda" else stepper
    return ModuleStepper(model)
