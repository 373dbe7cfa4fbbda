"""examples/onnx_generate.py: numpy and onnxruntime only, and textrnn's greedy text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli

pytest.importorskip("onnxruntime")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "onnx_generate.py"

# Runs the example with torch made unimportable, and fails if anything imported it anyway.
RUN_WITHOUT_TORCH = """
import runpy, sys
sys.modules["torch"] = None  # "import torch" now raises ImportError
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
assert sys.modules.get("torch") is None and "textrnn" not in sys.modules, "the example imported torch or textrnn"
"""


def example_text(export_dir: Path, prompt: str, tokens: int) -> str:
    result = subprocess.run([sys.executable, "-c", RUN_WITHOUT_TORCH, str(EXAMPLE), str(export_dir), "--prompt", prompt,
                             "--max-tokens", str(tokens)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n")
    return result.stdout[:-1]


def assert_greedy_under_textrnn(loaded, prompt: str, generated: str, tolerance: float = 1e-3) -> None:
    """Each generated token is textrnn's argmax given the text before it, up to a float tie.

    Exact text equality would fail on a machine where onnxruntime and torch round one
    near-tie differently; after that the texts part for good. Scoring the example's own
    text with textrnn's model, token by token, checks every step and allows only ties.
    """
    import torch

    from textrnn.generation import context_ids

    context = context_ids(loaded.tokenizer, prompt)
    new_ids = loaded.tokenizer.encode(generated)
    assert loaded.tokenizer.decode(new_ids) == generated
    with torch.no_grad():
        logits, _ = loaded.model(torch.tensor([context + new_ids]))
    steps = logits[0, len(context) - 1: -1].float()  # the logits that chose each generated token
    chosen = steps.gather(1, torch.tensor(new_ids)[:, None])[:, 0]
    gaps = steps.max(dim=1).values - chosen
    assert gaps.max().item() <= tolerance, f"step {gaps.argmax().item()} took a token {gaps.max().item():.4f} below the best"


@pytest.mark.parametrize("prompt", ["the cat ", ""])
def test_example_greedy_text_is_textrnns_greedy_text(tied_lm_run, tmp_path, prompt):
    import textrnn

    out = tmp_path / "onnx"
    result = run_cli("export", tied_lm_run, "--format", "onnx", "--out", out)
    assert result.exit_code == 0, result.stderr
    text = example_text(out, prompt, 60)
    assert text.startswith(prompt)
    generated = text[len(prompt):]
    assert len(generated) == 60
    assert len(set(generated[:20])) >= 4  # scrambled weights: text that changes, which a broken state carry would not match
    loaded = textrnn.load(tied_lm_run)
    assert_greedy_under_textrnn(loaded, prompt, generated)
    # and textrnn's own greedy text agrees with it up to the first tie at least
    ours = loaded.generate(prompt=prompt, max_tokens=60, greedy=True)[0]
    assert ours[:10] == generated[:10]


@pytest.mark.parametrize("tokenizer", [["word"], ["bpe", "--vocab-size", "320"]])
def test_example_reads_word_and_sentencepiece_tokenizers(corpus, tmp_path, tokenizer):
    import textrnn

    from .runs import scramble_weights, train_lm

    run = train_lm(tmp_path / "run", corpus, "--model", "gru", "--hidden-size", "8", "--embedding-dim", "8",
                   "--num-layers", "1", "--tokenizer", *tokenizer)
    scramble_weights(run)
    out = tmp_path / "onnx"
    assert run_cli("export", run, "--format", "onnx", "--out", out).exit_code == 0
    prompt = "the cat sat\non a mat "
    loaded = textrnn.load(run)
    expected = loaded.generate(prompt=prompt, max_tokens=30, greedy=True)[0]
    assert example_text(out, prompt, 30) == prompt + expected

    # the example's tokenizer against textrnn's, on text with unseen characters and a literal U+2581
    import json
    import runpy

    example = runpy.run_path(str(EXAMPLE))  # in this process: torch is loaded here anyway
    entry = json.loads((out / "config.json").read_text(encoding="utf-8"))["tokenizer"]
    ours = example["load_tokenizer"](out, entry)
    for text in ("the dog ran.\n\nto  a river", "caf\u00e9 \u2581 na\u00efve\n", ""):
        ids = loaded.tokenizer.encode(text)
        assert ours.encode(text) == ids, text
        push = ours.decoder([entry["start_id"]])
        decoded = "".join(push(i) for i in ids) + getattr(push, "flush", lambda: "")()
        assert decoded == loaded.tokenizer.decode(ids)
        if tokenizer[0] == "bpe":
            assert decoded == text  # textrnn's sentencepiece tokenizers are lossless
