"""ONNX graphs of a language model (one step, whole sequence) and of a classifier.

Every graph takes its recurrent state as explicit inputs and returns the new state, so a
runtime carries it between calls exactly as textrnn's stepper does:

* ``step.onnx``: ``ids`` (B,) int64, ``h`` (L, B, H) [, ``c`` (L, B, H) for an LSTM]
  -> ``logits`` (B, V), ``h_out`` [, ``c_out``];
* ``sequence.onnx``: ``ids`` (B, T) int64 and the same state -> ``logits`` (B, T, V) and the state;
* ``classifier.onnx``: ``ids`` (B, T) int64 right-padded, ``lengths`` (B,) int64 -> ``logits`` (B, K).

The graphs are traced with torch's TorchScript exporter (``dynamo=False``): it exports these
models in under a second each, where the torch.export-based exporter took several seconds per
graph here and fixed the time axis of its output shapes to the example's length.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

OPSET = 17


class LanguageModelGraph(nn.Module):
    """The LM's own ``forward`` with the state as separate tensors: a step (ids (B,)) or a sequence (ids (B, T))."""

    def __init__(self, model: nn.Module, step: bool):
        super().__init__()
        self.model = model
        self.step = step
        self.lstm = model.cell == "lstm"

    def forward(self, ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None = None):
        if self.step:
            ids = ids[:, None]  # (B, 1)
        logits, state = self.model(ids, (h, c) if self.lstm else (h,))  # (B, T, V)
        if self.step:
            logits = logits[:, 0]  # (B, V)
        return (logits, *state)


def state_names(cell: str) -> tuple[list[str], list[str]]:
    """Names of the state inputs and outputs of an LM graph."""
    return (["h", "c"], ["h_out", "c_out"]) if cell == "lstm" else (["h"], ["h_out"])


def export_lm(model: nn.Module, out_dir: Path) -> dict:
    """Write ``step.onnx`` and ``sequence.onnx``; returns what config.json records about them."""
    rnn = model.rnn
    inputs, outputs = state_names(model.cell)
    state = [torch.zeros(rnn.num_layers, 2, rnn.hidden_size) for _ in inputs]  # (L, B, H), B = 2
    state_axes = {name: {1: "batch"} for name in inputs + outputs}
    graphs = {}
    for kind, ids, ids_axes, logits_axes in (
        ("step", torch.zeros(2, dtype=torch.long), {0: "batch"}, {0: "batch"}),
        ("sequence", torch.zeros(2, 3, dtype=torch.long), {0: "batch", 1: "time"}, {0: "batch", 1: "time"}),
    ):
        names_in, names_out = ["ids", *inputs], ["logits", *outputs]
        _export(LanguageModelGraph(model, step=kind == "step"), (ids, *state), out_dir / f"{kind}.onnx",
                names_in, names_out, {"ids": ids_axes, "logits": logits_axes, **state_axes})
        graphs[kind] = {"file": f"{kind}.onnx", "inputs": names_in, "outputs": names_out}
    return graphs


class ClassifierGraph(nn.Module):
    """The classifier's forward pass without packed sequences, which ONNX cannot express.

    Each layer and direction runs as its own single-layer RNN over the padded batch. The forward
    direction's outputs at real positions do not depend on the padding after them; the backward
    direction reads each text reversed within its own length (a gather), so it too starts at the
    text's last real token, and its outputs are gathered back into place. Pooling is the model's.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        rnn = model.rnn
        directions = ("", "_reverse") if rnn.bidirectional else ("",)
        self.layers = nn.ModuleList()
        for layer in range(rnn.num_layers):
            modules = nn.ModuleList()
            for suffix in directions:
                weight_ih = getattr(rnn, f"weight_ih_l{layer}{suffix}")  # (G*H, In)
                single = type(rnn)(weight_ih.shape[1], rnn.hidden_size, batch_first=True)
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(single, f"{kind}_l0").data.copy_(getattr(rnn, f"{kind}_l{layer}{suffix}").detach())
                modules.append(single)
            self.layers.append(modules)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        model = self.model
        lengths = lengths.clamp(min=1)  # as the model: an empty text reads one padding token
        x = model.embedding(ids)  # (B, T, E)
        steps = torch.arange(ids.shape[1], device=ids.device)[None]  # (1, T)
        mask = steps < lengths[:, None]  # (B, T) True on real tokens
        reverse = torch.where(mask, lengths[:, None] - 1 - steps, steps)  # (B, T) reads each text backwards
        for modules in self.layers:
            outs = [modules[0](x)[0]]  # (B, T, H)
            if len(modules) == 2:
                backward, _ = modules[1](_gather_time(x, reverse))
                outs.append(_gather_time(backward, reverse))  # (B, T, H), back in reading order
            x = torch.cat(outs, dim=2) if len(outs) == 2 else outs[0]  # (B, T, D*H)
        if model.options.pooling == "last":
            hidden = model.rnn.hidden_size
            last = _gather_time(x[:, :, :hidden], (lengths - 1)[:, None])[:, 0]  # (B, H) forward end
            pooled = torch.cat([last, x[:, 0, hidden:]], dim=1) if model.rnn.bidirectional else last  # ++ backward start
        else:
            pooled = model.pool(x, mask, lengths)
        return model.head(pooled)  # (B, K)


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, t]]`` for x (B, T, F) and index (B, T'): (B, T', F)."""
    return torch.gather(x, 1, index[:, :, None].expand(-1, -1, x.shape[2]))


def export_classifier(model: nn.Module, out_dir: Path) -> dict:
    """Write ``classifier.onnx``; returns what config.json records about it."""
    example = (torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 2]))
    names_in, names_out = ["ids", "lengths"], ["logits"]
    _export(ClassifierGraph(model), example, out_dir / "classifier.onnx", names_in, names_out,
            {"ids": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}})
    return {"classifier": {"file": "classifier.onnx", "inputs": names_in, "outputs": names_out}}


def _export(module: nn.Module, args: tuple, path: Path, input_names, output_names, dynamic_axes) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter warns that it is deprecated, and about tracing Python
        # booleans inside torch's RNN modules (shape checks that hold for every input here)
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), dynamo=False, opset_version=OPSET,
                          input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes)
