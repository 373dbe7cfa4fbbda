"""Defaults that follow the data: what a language-model run uses for the options left unset.

A user who names only a corpus and a tokenizer should get a model that learns well in
the time given. So the training options that depend on the data (``batch_size``,
``seq_len``, ``lr``, ``weight_decay``, ``warmup_steps``, ``sampling``) are ``None`` in a
:class:`~textrnn.training.config.TrainConfig` until :func:`resolve` fills them from a
:class:`DataProfile`: the tokenizer's granularity (char, subword, word), the size of the
training text and of the vocabulary, the device and the time budget. A model plugin
may do the same for its own options through ``suggest_options`` (see
:func:`suggested_model_options`). A value the user set (flag, config file or API)
always wins, and every resolved value is reported with where it came from.

The numbers in the tables below were measured, not guessed: see docs/recipes.md
("Defaults and how they were chosen") for the runs behind each one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

GRANULARITIES = ("char", "subword", "word")

# (granularity, device type) -> training defaults. "cuda" rows are the GPU ones; any other
# device uses the "cpu" row.
TRAINING = {
    ("char", "cpu"): dict(batch_size=32, seq_len=128, lr=3e-3, weight_decay=0.01),
    ("char", "cuda"): dict(batch_size=64, seq_len=256, lr=2e-3, weight_decay=0.1),
    ("subword", "cpu"): dict(batch_size=32, seq_len=96, lr=3e-3, weight_decay=0.01),
    ("subword", "cuda"): dict(batch_size=64, seq_len=128, lr=2e-3, weight_decay=0.1),
    ("word", "cpu"): dict(batch_size=32, seq_len=70, lr=3e-3, weight_decay=0.01),
    ("word", "cuda"): dict(batch_size=64, seq_len=70, lr=2e-3, weight_decay=0.1),
}
SHARED = dict(warmup_steps=0, min_lr_ratio=0.1)
# Random windows once a run would read the same contiguous streams this many times over:
# replayed windows generalise worse than fresh ones (see docs/recipes.md).
RANDOM_AFTER_EPOCHS = 8


@dataclass(frozen=True)
class DataProfile:
    """What the defaults depend on."""

    granularity: str  # "char", "subword" or "word": the tokenizer's ``granularity``
    train_tokens: int
    vocab_size: int
    device: str  # the device type: "cpu", "cuda", "mps"
    time_budget: float | None = None
    world_size: int = 1

    def describe(self) -> str:
        return (f"{self.granularity} tokens, {self.train_tokens:,} for training, vocabulary {self.vocab_size:,}, "
                f"on {self.device}")


def granularity_of(tokenizer_class) -> str:
    """A tokenizer class's ``granularity``; plugin tokenizers without one count as subword."""
    value = getattr(tokenizer_class, "granularity", "subword")
    return value if value in GRANULARITIES else "subword"


def resolve(config, profile: DataProfile, options_class=None) -> tuple[Any, dict[str, str]]:
    """``config`` with every unset option filled, and where each value came from.

    :returns: ``(config, sources)``; ``sources`` maps each option that was unset to a
        short reason ("char text on cpu", say) and each option the user set to "set".
    """
    row = TRAINING[(profile.granularity, "cuda" if profile.device == "cuda" else "cpu")]
    chosen = {**row, **SHARED}
    reason = f"{profile.granularity} text on {profile.device}"
    values, sources = {}, {}
    for name, value in chosen.items():
        if getattr(config, name) is None:
            values[name], sources[name] = value, reason
        else:
            sources[name] = "set"
    if config.sampling == "auto":
        values["sampling"], sources["sampling"] = _sampling(config, values, profile)
    else:
        sources["sampling"] = "set"
    model_options = dict(config.model_options)
    for name, (value, why) in suggested_model_options(options_class, profile, model_options).items():
        model_options[name] = value
        sources[f"model_options.{name}"] = why
    return dataclasses.replace(config, **values, model_options=model_options), sources


def suggested_model_options(options_class, profile: DataProfile, given: dict) -> dict[str, tuple[Any, str]]:
    """The model plugin's suggestions for the options not in ``given``: ``{name: (value, reason)}``."""
    suggest = getattr(options_class, "suggest_options", None)
    if suggest is None:
        return {}
    return {k: v for k, v in suggest(profile, dict(given)).items() if k not in given}


def _sampling(config, values: dict, profile: DataProfile) -> tuple[str, str]:
    """Carried-state streams, unless the run will reread the corpus many times (or runs on a GPU)."""
    if profile.device == "cuda":
        return "random", "a GPU reads the corpus many times over in minutes"
    batch = values.get("batch_size") or config.batch_size
    seq = values.get("seq_len") or config.seq_len
    if config.epochs is not None and config.epochs > RANDOM_AFTER_EPOCHS:
        return "random", f"--epochs {config.epochs:g} rereads the corpus more than {RANDOM_AFTER_EPOCHS} times"
    if config.max_steps is not None and config.max_steps * batch * seq > RANDOM_AFTER_EPOCHS * profile.train_tokens:
        return "random", f"--max-steps rereads the corpus more than {RANDOM_AFTER_EPOCHS} times"
    return "streams", "carried state over a corpus read a few times"


def describe_sources(config, sources: dict[str, str]) -> list[str]:
    """One ``name = value (where from)`` line for each resolved option, for the progress log."""
    lines = []
    for name, why in sources.items():
        if why == "set":
            continue
        if "." in name:  # an entry of an option table: model_options.dropout, tokenizer_options.vocab_size
            table, key = name.split(".", 1)
            value = getattr(config, table)[key]
        else:
            value = getattr(config, name)
        lines.append(f"{name} = {value!r}  ({why})")
    return lines


def dropout_for(parameters: int, train_tokens: int) -> float:
    """Dropout for a model of ``parameters`` trained on ``train_tokens`` tokens.

    0.1 * log2(1 + parameters / tokens), at most 0.5: about 0.1 for a 2x256 character
    LSTM on a 1 MB corpus, 0.2 for 2x512 and 0.35 for 3x768 on the same text, the
    values a hand-tuned loop uses for those sizes.
    """
    ratio = parameters / max(1, train_tokens)
    return round(min(0.5, 0.1 * math.log2(1 + ratio)), 2)


def resolve_for(config, tokenizer, train_tokens: int, world_size: int = 1) -> tuple[Any, list[str]]:
    """``config`` with its unset options filled for this tokenizer and training text.

    :returns: the resolved config and the lines that say what was chosen and why.
    """
    from ..devices import resolve_device
    from ..registry import get_model

    options_class = get_model(config.model, task="lm").options
    profile = DataProfile(granularity_of(type(tokenizer)), int(train_tokens), tokenizer.vocab_size,
                          resolve_device(config.device).type, config.time_budget, world_size)
    resolved, sources = resolve(config, profile, options_class)
    lines = describe_sources(resolved, sources)
    if lines:
        lines.insert(0, f"defaults for {profile.describe()} (a flag overrides any of them):")
    return resolved, lines


def resolve_with_data(config) -> tuple[Any, list[str]]:
    """:func:`resolve_for` after tokenizing the corpus through the token cache (which the
    training run then reuses), for ``--print-config``."""
    from ..data.lm_data import prepare_lm_data

    data = prepare_lm_data(config)
    return resolve_for(config, data.tokenizer, len(data.train))
