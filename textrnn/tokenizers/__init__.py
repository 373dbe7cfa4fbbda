"""Tokenizers: the base interface and loading a tokenizer stored in a run."""

from .base import Tokenizer, load_tokenizer, save_tokenizer, train_tokenizer

__all__ = ["Tokenizer", "load_tokenizer", "save_tokenizer", "train_tokenizer"]
