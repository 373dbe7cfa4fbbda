"""Generate text from a textrnn language model exported as ONNX, with onnxruntime and numpy only.

    textrnn export runs/char --format onnx --out exports/char
    python examples/onnx_generate.py exports/char --prompt "ROMEO:" --max-tokens 200 --temperature 0.8 --seed 1

``--temperature 0`` (the default) takes the likeliest token each time: the same text as
``textrnn generate RUN --greedy``. The prompt runs through ``sequence.onnx`` once; each new
token then costs one call of ``step.onnx``, with the recurrent state carried between calls.
No torch and no textrnn are needed: char and word vocabularies are read from ``vocab.json``,
sentencepiece (bpe, unigram) models with the ``sentencepiece`` package.
"""

from __future__ import annotations

import argparse
import codecs
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


class VocabTokenizer:
    """The char and word tokenizers of textrnn, from ``vocab.json`` (id -> text)."""

    def __init__(self, kind: str, tokens: list[str]):
        self.kind, self.tokens = kind, tokens
        self.index = {text: i for i, text in enumerate(tokens) if i > (0 if kind == "char" else 1)}

    def encode(self, text: str) -> list[int]:
        if self.kind == "char":
            return [self.index.get(ch, 0) for ch in text]  # 0: <unk>
        ids: list[int] = []
        lines = text.split("\n")
        for k, line in enumerate(lines):
            ids.extend(self.index.get(word, 0) for word in line.split())
            if k < len(lines) - 1:
                ids.append(1)  # <eos> for each newline
        return ids

    def decoder(self, context: list[int]):
        """``push(id) -> new text`` continuing ``context``: the difference between decoding with and without it."""
        ids = list(context)
        done = len(self.decode(ids))

        def push(token: int) -> str:
            nonlocal done
            ids.append(token)
            text = self.decode(ids)
            piece, done = text[done:], len(text)
            return piece

        return push

    def decode(self, ids: list[int]) -> str:
        if self.kind == "char":
            return "".join(self.tokens[i] for i in ids)
        lines, line = [], []
        for i in ids:
            if i == 1:
                lines.append(" ".join(line))
                line = []
            else:
                line.append(self.tokens[i])
        return "\n".join([*lines, " ".join(line)])


class SentencePieceTokenizer:
    """textrnn's lossless sentencepiece tokenizer: newlines and literal U+2581 are cut out first."""

    def __init__(self, model_file: Path):
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.newline = self.sp.piece_to_id("\n")
        self.escape = [self.sp.piece_to_id(f"<0x{b:02X}>") for b in "\u2581".encode("utf-8")]

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for k, part in enumerate(re.split("(\n|\u2581)", text)):
            if k % 2:
                ids.extend([self.newline] if part == "\n" else self.escape)
            elif part:
                ids.extend(self.sp.encode(part))
        return ids

    def decoder(self, context: list[int]):
        """Bytes of each piece, decoded as UTF-8 once a character is complete (as textrnn streams)."""
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        sp = self.sp

        def push(token: int) -> str:
            if sp.is_unknown(token):
                data = "\ufffd".encode("utf-8")
            elif sp.is_control(token):
                data = b""
            elif sp.is_byte(token):
                data = bytes([int(sp.id_to_piece(token)[3:5], 16)])  # "<0xE2>" -> b"\xe2"
            else:
                data = sp.id_to_piece(token).replace("\u2581", " ").encode("utf-8")
            return utf8.decode(data)

        push.flush = lambda: utf8.decode(b"", final=True)
        return push


def load_tokenizer(export_dir: Path, entry: dict):
    if entry.get("vocab"):
        vocab = json.loads((export_dir / entry["vocab"]).read_text(encoding="utf-8"))
        return VocabTokenizer(vocab["type"], vocab["tokens"])
    if entry.get("sentencepiece_model"):
        return SentencePieceTokenizer(export_dir / entry["sentencepiece_model"])
    sys.exit(f"Error: this example cannot read a {entry.get('type')!r} tokenizer")


def choose(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> int:
    """Next token from logits (V,): argmax at temperature 0, else a draw from the tempered softmax."""
    if temperature == 0:
        return int(np.argmax(logits))
    logits = logits.astype(np.float64) / temperature
    if top_k:
        logits[logits < np.sort(logits)[-top_k]] = -np.inf
    probs = np.exp(logits - logits.max())
    return int(rng.choice(len(probs), p=probs / probs.sum()))


def generate(export_dir: Path, prompt: str, max_tokens: int, temperature: float = 0.0,
             top_k: int | None = None, seed: int | None = None) -> str:
    """The continuation of ``prompt`` (not including it)."""
    config = json.loads((export_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("task") != "lm" or "onnx" not in config:
        sys.exit(f"Error: {export_dir} is not an ONNX export of a language model")
    graphs, arch, entry = config["onnx"]["graphs"], config["architecture"], config["tokenizer"]
    tokenizer = load_tokenizer(export_dir, entry)
    sequence = ort.InferenceSession(str(export_dir / graphs["sequence"]["file"]), providers=["CPUExecutionProvider"])
    step = ort.InferenceSession(str(export_dir / graphs["step"]["file"]), providers=["CPUExecutionProvider"])
    state_names = graphs["step"]["inputs"][1:]  # "h" (and "c" for an LSTM), each (layers, batch, hidden)
    state = [np.zeros((arch["num_layers"], 1, arch["hidden_size"]), np.float32) for _ in state_names]

    context = tokenizer.encode(prompt) or [entry["start_id"]]
    bias = np.zeros(arch["vocab_size"], np.float32)
    bias[entry["unknown_ids"]] = -np.inf  # never generate <unk>
    rng = np.random.default_rng(seed)
    push = tokenizer.decoder(context)
    logits, *state = sequence.run(None, {"ids": np.array([context], np.int64), **dict(zip(state_names, state))})
    logits = logits[0, -1]  # (V,) after the last prompt token
    pieces = []
    for _ in range(max_tokens):
        token = choose(logits + bias, temperature, top_k, rng)
        pieces.append(push(token))
        logits, *state = step.run(None, {"ids": np.array([token], np.int64), **dict(zip(state_names, state))})
        logits = logits[0]
    pieces.append(getattr(push, "flush", lambda: "")())
    return "".join(pieces)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export_dir", type=Path, help="directory written by `textrnn export RUN --format onnx`")
    parser.add_argument("--prompt", default="", help="text to continue (default: start of a line)")
    parser.add_argument("--max-tokens", type=int, default=200, help="tokens to generate")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy; > 0: sample")
    parser.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens")
    parser.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    args = parser.parse_args(argv)
    text = generate(args.export_dir, args.prompt, args.max_tokens, args.temperature, args.top_k, args.seed)
    sys.stdout.write(args.prompt + text + "\n")


if __name__ == "__main__":
    main()
