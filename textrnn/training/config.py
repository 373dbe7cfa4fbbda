"""The resolved configuration of a training run, stored as ``config.json`` in the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .config_base import RESUMABLE, BaseTrainConfig, config_from_dict, differs_from_saved, need

AUTO_FIELDS = ("batch_size", "seq_len", "lr", "weight_decay", "warmup_steps", "min_lr_ratio")
SAMPLING_MODES = ("auto", "fixed", "streams", "random")  # textrnn.data.lm_sampling

# Options that may change when a run is resumed: they bound the run, not its maths.
RESUMABLE_CHANGES = RESUMABLE | {"eval_tokens", "save_every", "cache_dir", "compile"}


@dataclass
class TrainConfig(BaseTrainConfig):
    """Everything that defines a language-model training run."""

    resumable: ClassVar[frozenset[str]] = frozenset(RESUMABLE_CHANGES)

    model: str = "lstm"
    model_options: dict[str, Any] = field(default_factory=dict)
    tokenizer: str = "char"
    tokenizer_options: dict[str, Any] = field(default_factory=dict)
    corpus: list[str] = field(default_factory=list)
    valid: str | None = None
    valid_fraction: float = 0.1
    encoding_errors: str = "strict"
    text_field: str | None = None  # column of CSV/TSV/JSON lines/Parquet/datasets corpora (default "text")
    dataset: str | None = None  # a Hugging Face Hub dataset instead of corpus files
    split: str | None = None  # split of --dataset or of a saved DatasetDict (default "train")
    cache_dir: str | None = None  # token cache (default $TEXTRNN_CACHE_DIR or ~/.cache/textrnn/tokens)
    # None: chosen from the data when the run starts (textrnn.training.lm_defaults)
    batch_size: int | None = None
    seq_len: int | None = None
    sampling: str = "auto"
    optimizer: str = "adamw"
    lr: float | None = None
    weight_decay: float | None = None
    min_lr_ratio: float | None = None
    l1: float = 0.0
    eval_every: int | None = None  # None: every 250 steps, or each quarter of --time-budget
    eval_tokens: int | None = None  # None: 65,536 validation tokens per in-training evaluation
    save_every: int | None = None

    def validate(self) -> None:
        super().validate()
        need(self.batch_size is None or self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        need(self.seq_len is None or self.seq_len >= 1, f"seq_len must be at least 1, got {self.seq_len}")
        need(0.0 <= self.valid_fraction < 1.0, f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        need(self.l1 >= 0, f"l1 must be >= 0, got {self.l1}")
        need(self.sampling in SAMPLING_MODES, f"sampling must be one of {', '.join(SAMPLING_MODES)}, got {self.sampling!r}")
        need(self.optimizer in ("adamw", "sgd"), f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        need(self.encoding_errors in ("strict", "replace"),
             f"encoding_errors must be 'strict' or 'replace', got {self.encoding_errors!r}")
        need(self.eval_tokens is None or self.eval_tokens >= 2, f"eval_tokens must be at least 2, got {self.eval_tokens}")
        need(self.save_every is None or self.save_every >= 1, f"save_every must be at least 1, got {self.save_every}")
        need(not (self.dataset and self.corpus), "pass corpus files or a dataset, not both")
        if self.valid is None:
            need(self.valid_fraction > 0, "valid_fraction must be > 0 when no validation file is given")

    def unresolved(self) -> list[str]:
        """Options still None that the data-driven defaults fill (textrnn.training.lm_defaults)."""
        return [k for k in AUTO_FIELDS if getattr(self, k) is None] + (["sampling"] if self.sampling == "auto" else [])


__all__ = ["TrainConfig", "config_from_dict", "differs_from_saved", "RESUMABLE_CHANGES"]
