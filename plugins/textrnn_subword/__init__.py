"""Subword tokenizer plugin: ``bpe`` and ``unigram``, both trained with sentencepiece.

Both are lossless: ``decode(encode(text)) == text`` for every string (see
:mod:`textrnn_subword.tokenizer` for how newlines, spaces and unseen characters are
kept). sentencepiece itself is imported only when a tokenizer is trained or loaded,
so registering the plugin costs nothing.
"""

from __future__ import annotations

import textrnn

from .options import SubwordOptions
from .tokenizer import BPETokenizer, SentencePieceTokenizer, UnigramTokenizer

__version__ = textrnn.__version__

__all__ = ["BPETokenizer", "SentencePieceTokenizer", "SubwordOptions", "UnigramTokenizer"]


@textrnn.hookimpl
def register_tokenizers(register):
    register("bpe", BPETokenizer, description="byte-pair-encoding subwords (sentencepiece, byte fallback, lossless)")
    # unigram is the classifier's default: 8,000 unigram pieces beat bpe on SST-2 (docs/recipes.md, section 3)
    register("unigram", UnigramTokenizer, description="unigram-LM subwords (sentencepiece, byte fallback, lossless)",
             default_for=("classifier",))
