"""The tokenizer an export carries, in forms that need neither torch nor textrnn.

The run's stored tokenizer is copied as ``tokenizer/`` (``textrnn.tokenizers.load_tokenizer``
reads it back). For the first-party tokenizers config.json also says how to tokenize without
textrnn, as ``examples/onnx_generate.py`` does:

* ``char`` and ``word``: ``vocab.json``, ``{"type": ..., "tokens": [text of id 0, id 1, ...]}``.
  char: one character per id; id 0 (``<unk>``) is any unseen character and reads as U+FFFD.
  word: ``<unk>`` is 0 and ``<eos>`` (a newline) is 1; words are split on whitespace.
* ``bpe`` and ``unigram``: the sentencepiece model, ``tokenizer/spm.model``. textrnn cuts text at
  each ``"\\n"`` (its own piece) and spells a literal U+2581 as its three byte pieces.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

SENTENCEPIECE_TYPES = ("bpe", "unigram")
VOCAB_FILE = "vocab.json"
TOKENIZER_DIR = "tokenizer"


def write_tokenizer(tokenizer, run_tokenizer_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Copy the stored tokenizer into ``out_dir`` and write ``vocab.json`` where it applies;
    returns the ``tokenizer`` entry of config.json."""
    from ..generation import start_id

    target = out_dir / TOKENIZER_DIR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(run_tokenizer_dir, target)
    kind = tokenizer.type_name
    entry: dict[str, Any] = {
        "type": kind, "fingerprint": tokenizer.fingerprint(), "directory": TOKENIZER_DIR,
        "vocab_size": tokenizer.vocab_size, "newline_id": tokenizer.newline_id,
        "start_id": start_id(tokenizer),  # what generation starts from when the prompt is empty
        "unknown_ids": list(tokenizer.unknown_ids()),  # never generated
        "vocab": None, "sentencepiece_model": None,
    }
    tokens = _token_texts(tokenizer)
    if tokens is not None:
        vocab = {"type": kind, "tokens": tokens}
        (out_dir / VOCAB_FILE).write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
        entry["vocab"] = VOCAB_FILE
    elif kind in SENTENCEPIECE_TYPES:
        entry["sentencepiece_model"] = f"{TOKENIZER_DIR}/{tokenizer.to_meta()['model_file']}"
    return entry


def _token_texts(tokenizer) -> list[str] | None:
    """Text of every id, in id order, for the char and word tokenizers; None for the others."""
    if tokenizer.type_name == "char":
        return [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]  # id 0 -> U+FFFD
    if tokenizer.type_name == "word":
        return list(tokenizer.words)  # "<unk>", "<eos>", then the words
    return None
