"""onnxruntime runs the exported graphs to within 1e-4 of textrnn's own forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textrnn.export import onnx_graphs
from textrnn.registry import get_model

ort = pytest.importorskip("onnxruntime")

VOCAB = 29
TOLERANCE = 1e-4


def build(name: str, vocab: int = VOCAB, **options):
    info = get_model(name)
    torch.manual_seed(0)
    model = info.factory(vocab, info.make_options(options)).eval()
    with torch.no_grad():
        for param in model.parameters():  # init leaves biases at zero: make the graphs show them
            param.add_(torch.randn_like(param) * 0.3)
    return model


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def close(actual: np.ndarray, expected: torch.Tensor) -> None:
    np.testing.assert_allclose(actual, expected.detach().numpy(), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_lm_graphs_match_the_model_across_a_carried_state(cell, layers, tmp_path):
    model = build(cell, embedding_dim=12, hidden_size=16, num_layers=layers, dropout=0.2, output_dropout=0.2,
                  embedding_dropout=0.1)
    graphs = onnx_graphs.export_lm(model, tmp_path)
    sequence, step = session(tmp_path / "sequence.onnx"), session(tmp_path / "step.onnx")
    names = graphs["step"]["inputs"][1:]
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (3, 11), generator=gen)  # batch and length differ from the traced example
    start = tuple(torch.randn(layers, 3, 16, generator=gen) for _ in names)  # a carried, non-zero state
    with torch.no_grad():
        expected, expected_state = model(ids, start)  # (3, 11, V)

    # the sequence graph in two pieces, the state carried from the first into the second
    first, *state = sequence.run(None, {"ids": ids[:, :6].numpy(), **{n: s.numpy() for n, s in zip(names, start)}})
    second, *state = sequence.run(None, {"ids": ids[:, 6:].numpy(), **dict(zip(names, state))})
    close(np.concatenate([first, second], axis=1), expected)
    for got, want in zip(state, expected_state):
        close(got, want)

    # the step graph one token at a time from the same start
    state, logits = [s.numpy() for s in start], []
    for t in range(ids.shape[1]):
        out, *state = step.run(None, {"ids": ids[:, t].numpy(), **dict(zip(names, state))})
        logits.append(out)
    close(np.stack(logits, axis=1), expected)
    for got, want in zip(state, expected_state):
        close(got, want)


def test_tied_lm_graph(tmp_path):
    model = build("gru", embedding_dim=16, hidden_size=16, num_layers=1, tie_weights=True)
    onnx_graphs.export_lm(model, tmp_path)
    ids = torch.randint(0, VOCAB, (2, 5))
    h = np.zeros((1, 2, 16), np.float32)
    logits, _ = session(tmp_path / "sequence.onnx").run(None, {"ids": ids.numpy(), "h": h})
    with torch.no_grad():
        close(logits, model(ids)[0])


@pytest.mark.parametrize("name, pooling, bidirectional, layers", [
    ("bilstm", "attention", True, 2), ("bigru", "last", True, 2), ("bilstm", "last", False, 1),
    ("bigru", "maxmean", False, 2), ("bilstm", "mean", True, 1), ("bigru", "max", True, 1),
])
def test_classifier_graph_matches_the_model(name, pooling, bidirectional, layers, tmp_path):
    model = build(name, embedding_dim=8, hidden_size=6, num_layers=layers, num_classes=3, pooling=pooling,
                  bidirectional=bidirectional)
    onnx_graphs.export_classifier(model, tmp_path)
    gen = torch.Generator().manual_seed(2)
    lengths = torch.tensor([7, 1, 4, 0, 5])  # an empty text too
    ids = torch.randint(1, VOCAB, (5, 9), generator=gen)  # two columns of padding past the longest text
    ids[torch.arange(9)[None] >= lengths[:, None]] = 0
    logits, = session(tmp_path / "classifier.onnx").run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
    with torch.no_grad():
        close(logits, model(ids, lengths))
