"""The safetensors export loads into plain torch.nn with the snippet docs/export.md gives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors import safe_open

from tests.cli.helpers import run_cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"
PLACEHOLDER = 'export_dir = Path("exports/char-weights")'


def doc_snippet() -> str:
    """The docs' one python block that loads the plain model."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    (snippet,) = [b for b in blocks if "load_state_dict" in b]
    assert PLACEHOLDER in snippet
    return snippet


def test_doc_snippet_loads_the_weights_and_gives_textrnns_logits(tied_lm_run, tmp_path):
    import textrnn

    out = tmp_path / "weights"
    result = run_cli("export", tied_lm_run, "--format", "safetensors", "--out", out)
    assert result.exit_code == 0, result.stderr
    namespace: dict = {}
    exec(doc_snippet().replace(PLACEHOLDER, f"export_dir = Path({str(out)!r})"), namespace)
    plain = namespace["model"]
    assert type(plain).__module__ != "textrnn_recurrent.lm"  # the docs' own class, not textrnn's

    run = textrnn.load(tied_lm_run)
    ids = torch.randint(0, run.tokenizer.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, expected_state = run.model(ids)
        logits, state = plain(ids)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(tuple(state), tuple(expected_state), rtol=0, atol=1e-6)


def test_tied_weights_are_written_out_in_full(tied_lm_run, tmp_path):
    out = tmp_path / "weights"
    assert run_cli("export", tied_lm_run, "--format", "safetensors", "--out", out).exit_code == 0
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["architecture"]["tied_weights"] is True
    assert config["architecture"]["num_layers"] == 2 and config["architecture"]["cell"] == "lstm"
    with safe_open(out / "model.safetensors", "pt") as f:
        names = set(f.keys())
        decoder, embedding = f.get_tensor("decoder.weight"), f.get_tensor("embedding.weight")
    assert {"embedding.weight", "decoder.weight", "decoder.bias", "rnn.weight_hh_l1"} <= names
    assert torch.equal(decoder, embedding)
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["type"] == "char" and len(vocab["tokens"]) == config["tokenizer"]["vocab_size"]
