"""The resolved configuration of a training run, stored as ``config.json`` in the run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

AUTO_FIELDS = ("batch_size", "seq_len", "lr", "weight_decay", "warmup_steps", "min_lr_ratio")
SAMPLING_MODES = ("auto", "fixed", "streams", "random")  # textrnn.data.lm_sampling

# Options that may change when a run is resumed: they bound the run, not its maths.
RESUMABLE_CHANGES = {"max_steps", "epochs", "time_budget", "patience", "eval_every", "eval_tokens", "save_every",
                     "keep_last", "device", "log_every", "cache_dir", "compile"}


@dataclass
class TrainConfig:
    """Everything that defines a language-model training run."""

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
    adam_beta2: float = 0.99
    weight_decay: float | None = None
    l1: float = 0.0
    clip: float = 1.0
    warmup_steps: int | None = None
    schedule: str = "cosine"
    min_lr_ratio: float | None = None
    max_steps: int | None = None
    epochs: float | None = None
    time_budget: float | None = None
    eval_every: int | None = None  # None: every 250 steps, or each quarter of --time-budget
    eval_tokens: int | None = None  # None: 65,536 validation tokens per in-training evaluation
    patience: int | None = None
    seed: int = 1337
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False  # torch.compile the model; falls back to eager where it cannot
    log_every: int = 10
    save_every: int | None = None
    keep_last: int = 2

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def need(cond: bool, message: str) -> None:
            if not cond:
                raise ConfigError(message)

        need(self.lr is None or (math.isfinite(self.lr) and self.lr > 0), f"lr must be positive, got {self.lr}")
        need(self.batch_size is None or self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")
        need(self.seq_len is None or self.seq_len >= 1, f"seq_len must be at least 1, got {self.seq_len}")
        need(0.0 <= self.valid_fraction < 1.0, f"valid_fraction must be in [0, 1), got {self.valid_fraction}")
        need(0.0 <= self.adam_beta2 < 1.0, f"adam_beta2 must be in [0, 1), got {self.adam_beta2}")
        need(self.weight_decay is None or self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        need(self.l1 >= 0, f"l1 must be >= 0, got {self.l1}")
        need(self.clip >= 0, f"clip must be >= 0 (0 disables clipping), got {self.clip}")
        need(self.warmup_steps is None or self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        need(self.min_lr_ratio is None or 0.0 <= self.min_lr_ratio <= 1.0, f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        need(self.sampling in SAMPLING_MODES, f"sampling must be one of {', '.join(SAMPLING_MODES)}, got {self.sampling!r}")
        need(self.optimizer in ("adamw", "sgd"), f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        need(self.schedule in ("cosine", "constant"), f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        need(self.encoding_errors in ("strict", "replace"),
             f"encoding_errors must be 'strict' or 'replace', got {self.encoding_errors!r}")
        need(self.max_steps is None or self.max_steps >= 1, f"max_steps must be at least 1, got {self.max_steps}")
        need(self.epochs is None or self.epochs > 0, f"epochs must be positive, got {self.epochs}")
        need(self.time_budget is None or self.time_budget > 0, f"time_budget must be positive, got {self.time_budget}")
        need(self.eval_every is None or self.eval_every >= 1, f"eval_every must be at least 1, got {self.eval_every}")
        need(self.eval_tokens is None or self.eval_tokens >= 2, f"eval_tokens must be at least 2, got {self.eval_tokens}")
        need(self.patience is None or self.patience >= 1, f"patience must be at least 1, got {self.patience}")
        need(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}")
        need(self.save_every is None or self.save_every >= 1, f"save_every must be at least 1, got {self.save_every}")
        need(self.keep_last >= 1, f"keep_last must be at least 1, got {self.keep_last}")
        need(self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:"),
             f"device must be auto, cpu, cuda or mps, got {self.device!r}")
        need(self.precision in ("auto", "fp32", "bf16", "fp16"),
             f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        need(not (self.dataset and self.corpus), "pass corpus files or a dataset, not both")
        if self.valid is None:
            need(self.valid_fraction > 0, "valid_fraction must be > 0 when no validation file is given")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return config_from_dict(cls, data)

    def resume_differences(self, saved: "TrainConfig") -> list[str]:
        """Options that differ from the saved run and may not change on resume.

        An option left unset (None) takes the saved run's value, so it is no change.
        """
        mine, theirs = self.to_dict(), saved.to_dict()
        return sorted(k for k in mine if k not in RESUMABLE_CHANGES and differs_from_saved(mine[k], theirs[k]))

    def unresolved(self) -> list[str]:
        """Options still None that the data-driven defaults fill (textrnn.training.lm_defaults)."""
        return [k for k in AUTO_FIELDS if getattr(self, k) is None] + (["sampling"] if self.sampling == "auto" else [])


def differs_from_saved(given: Any, saved: Any) -> bool:
    """An option given now differs from the saved one; unset options (None, empty, "auto")
    never do, and option tables compare only the keys given."""
    if given is None or given == [] or given == {} or given == "auto":
        return False
    if isinstance(given, dict) and isinstance(saved, dict):
        return any(k not in saved or saved[k] != v for k, v in given.items())
    return given != saved


def config_from_dict(cls, data: dict[str, Any]):
    """Build a config dataclass, naming unknown keys and their nearest valid match."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        import difflib

        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, names, 1)) else "")
                 for k in unknown]
        raise ConfigError(f"unknown config key {', '.join(hints)}")
    return cls(**data)
