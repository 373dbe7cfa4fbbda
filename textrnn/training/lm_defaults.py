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
from typing import Any, ClassVar

GRANULARITIES = ("char", "subword", "word")
CHAR_VOCAB = 512

# (granularity, device type) -> training defaults. "cuda" rows are the GPU ones; any other
# device uses the "cpu" row.
TRAINING = {
    ("char", "cpu"): dict(batch_size=32, seq_len=128, lr=5e-3, weight_decay=0.1),
    ("char", "cuda"): dict(batch_size=64, seq_len=256, lr=2e-3, weight_decay=0.1),
    ("subword", "cpu"): dict(batch_size=32, seq_len=64, lr=5e-3, weight_decay=0.01),
    ("subword", "cuda"): dict(batch_size=64, seq_len=128, lr=2e-3, weight_decay=0.1),
    ("word", "cpu"): dict(batch_size=20, seq_len=35, lr=1e-2, weight_decay=0.01),
    ("word", "cuda"): dict(batch_size=64, seq_len=70, lr=2e-3, weight_decay=0.1),
}
SHARED = dict(warmup_steps=0, min_lr_ratio=0.1)
# Random windows once a run reads its text more than this many times: on tiny Shakespeare
# (about 3.5 passes in 120 s on 2 CPU cores) random windows beat carried-state streams
# (docs/recipes.md); within a pass or two, carried state costs nothing and gives context.
RANDOM_AFTER_EPOCHS = 2
# Rough training speed, in FLOP/s at 6 FLOP per parameter per token, to guess how many
# passes over the corpus a --time-budget allows. Measured: a 2x256 character LSTM trains at
# about 26k tokens/s on 2 CPU cores (1.4e11), a 3x768 one at about 380k tokens/s on an
# H200 in bf16 (2.7e13). A guess off by 2x only moves the dropout and the sampling choice
# across a boundary a little earlier or later.
FLOPS = {"cpu": 1.2e11, "cuda": 2.5e13}


@dataclass(frozen=True)
class DataProfile:
    """What the defaults depend on."""

    granularity: str  # "char", "subword" or "word": the tokenizer's ``granularity``
    train_tokens: int
    vocab_size: int
    device: str  # the device type: "cpu", "cuda", "mps"
    time_budget: float | None = None
    world_size: int = 1
    planned_tokens: int | None = None  # tokens a step- or epoch-limited run will read, when known

    def describe(self) -> str:
        return (f"{self.granularity} tokens, {self.train_tokens:,} for training, vocabulary {self.vocab_size:,}, "
                f"on {self.device}")


def expected_passes(profile: DataProfile, parameters: int) -> float | None:
    """How many times the run will read its training text: exact for step or epoch limits,
    estimated from the model size and :data:`FLOPS` for a time budget, None when unbounded."""
    if profile.planned_tokens is not None:
        return profile.planned_tokens / max(1, profile.train_tokens)
    if profile.time_budget is None:
        return None
    rate = FLOPS.get(profile.device, FLOPS["cpu"]) * max(1, profile.world_size) / (6 * max(1, parameters))
    return profile.time_budget * rate / max(1, profile.train_tokens)


def granularity_of(tokenizer) -> str:
    """What a token is, for the defaults (``tokenizer`` is a trained tokenizer, or a class): "char" for any vocabulary of at most
    :data:`CHAR_VOCAB` symbols (a word tokenizer over space-separated characters, as PTB's
    character files, is character-level text), else the tokenizer's own ``granularity``;
    plugin tokenizers that do not say count as subword."""
    if not isinstance(tokenizer, type) and tokenizer.vocab_size <= CHAR_VOCAB:  # a class: not trained yet
        return "char"
    value = getattr(tokenizer, "granularity", "subword")
    return value if value in GRANULARITIES else "subword"


def resolve(config, profile: DataProfile, options_class=None, count_parameters=None) -> tuple[Any, dict[str, str]]:
    """``config`` with every unset option filled, and where each value came from.

    :param count_parameters: ``count_parameters(model_options) -> int``, to judge how
        often a time budget rereads the corpus; without it the sampling rule uses steps
        and epochs alone.
    :returns: ``(config, sources)``; ``sources`` maps each option that was unset to a
        short reason ("char text on cpu", say) and each option the user set to "set".
    """
    row = TRAINING[(profile.granularity, "cuda" if profile.device == "cuda" else "cpu")]
    reason = f"{profile.granularity} text on {profile.device}"
    values, sources = {}, {}
    for name, value in {**row, **SHARED}.items():
        if getattr(config, name) is None:
            values[name], sources[name] = value, reason
        else:
            sources[name] = "set"
    batch = config.batch_size or values["batch_size"]
    seq = config.seq_len or values["seq_len"]
    profile = dataclasses.replace(profile, planned_tokens=_planned_tokens(config, batch * seq, profile.train_tokens))
    model_options = dict(config.model_options)
    for name, (value, why) in suggested_model_options(options_class, profile, model_options).items():
        model_options[name] = value
        sources[f"model_options.{name}"] = why
    if config.precision == "auto":
        values["precision"], sources["precision"] = _precision(profile, options_class)
    else:
        sources["precision"] = "set"
    if config.sampling == "auto":
        parameters = count_parameters(model_options) if count_parameters else None
        values["sampling"], sources["sampling"] = _sampling(profile, parameters)
    else:
        sources["sampling"] = "set"
    return dataclasses.replace(config, **values, model_options=model_options), sources


def _planned_tokens(config, tokens_per_step: int, train_tokens: int) -> int | None:
    """Tokens a run limited by steps or epochs reads (the smaller limit), None under a time budget alone."""
    limits = []
    if config.max_steps is not None:
        limits.append(config.max_steps * tokens_per_step)
    if config.epochs is not None:
        limits.append(int(config.epochs * train_tokens))
    if not limits and config.time_budget is None:
        limits.append(train_tokens)  # no limit at all: one epoch
    return min(limits) if limits else None


def suggested_model_options(options_class, profile: DataProfile, given: dict) -> dict[str, tuple[Any, str]]:
    """The model plugin's suggestions for the options not in ``given``: ``{name: (value, reason)}``."""
    suggest = getattr(options_class, "suggest_options", None)
    if suggest is None:
        return {}
    return {k: v for k, v in suggest(profile, dict(given)).items() if k not in given}


def _precision(profile: DataProfile, options_class=None) -> tuple[str, str]:
    """bf16 on a GPU that has it, and on a CPU with AMX matrix units (recent Xeons): on PTB
    words bf16 ran 1.4x the steps of fp32 in the same time and reached a lower loss, and the
    default 2x256 character LSTM ran 1.9x the steps in 5 minutes on tiny Shakespeare and
    reached 1.4115 nats against fp32's 1.4376 (docs/recipes.md). Other CPUs stay in fp32,
    where bf16 matrix products are emulated and slower, and so does a model whose options
    class says ``cpu_bf16 = False`` (one that learned less per second in bf16)."""
    from ..devices import resolve_precision

    if profile.device == "cuda":
        import torch

        return resolve_precision("auto", torch.device("cuda")), "the GPU's fast format"
    if profile.device == "cpu" and cpu_has_amx():
        if not getattr(options_class, "cpu_bf16", True):
            return "fp32", "this model learns less per second in bf16 on a CPU"
        return "bf16", "this CPU's AMX bf16 units"
    return "fp32", f"{profile.granularity} text on {profile.device}"


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles for bf16 matrix products (recent Intel Xeons)."""
    import torch

    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(check and check())


def _sampling(profile: DataProfile, parameters: int | None) -> tuple[str, str]:
    """Carried-state streams, unless the run will reread the corpus many times (or runs on a GPU)."""
    if profile.device == "cuda":
        return "random", "a GPU rereads a corpus many times over"
    passes = expected_passes(profile, parameters) if parameters else (
        profile.planned_tokens / max(1, profile.train_tokens) if profile.planned_tokens else None)
    if passes is not None and passes > RANDOM_AFTER_EPOCHS:
        return "random", f"about {passes:.0f} passes over the training text"
    shown = f"about {passes:.1f} passes" if passes is not None else "an open-ended run"
    return "streams", f"carried state; {shown} over the training text"


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


def suggested_dropout(profile: DataProfile, parameters: int) -> tuple[float, str]:
    """:func:`dropout_for` and the reason, capped at 0.1 when the run reads its text fewer
    than twice, and 0 when it reads it less than once: a model that sees each token once or
    twice underfits, and dropout only slows it (it costs steps too: on PTB words in 97 s,
    dropout 0.1 ran 1,485 steps to perplexity 188, none 1,721 steps to 173; docs/recipes.md)."""
    p = dropout_for(parameters, profile.train_tokens)
    why = f"{parameters / 1e6:.1f}M parameters for {profile.train_tokens / 1e6:.1f}M training tokens"
    passes = expected_passes(profile, parameters)
    if passes is not None and passes < 1:
        p, why = 0.0, f"about {passes:.1f} passes over the training text"
    elif passes is not None and passes < 2 and p > 0.1:
        p, why = 0.1, f"about {passes:.1f} passes over the training text"
    return p, why


def meta_parameter_count(build, vocab_size: int, options) -> int:
    """Parameters of ``build(vocab_size, options)``, built on the meta device: no memory, no init cost."""
    import torch

    try:
        with torch.device("meta"):
            model = build(vocab_size, options)
    except (NotImplementedError, RuntimeError):  # a plugin whose construction reads tensor values
        model = build(vocab_size, options)
    return sum(p.numel() for p in model.parameters())


def suggest_tied_embedding(options_cls, profile: DataProfile, given: dict, width: str = "hidden_size") -> dict:
    """Tied input and output embeddings (Press & Wolf 2017) for subword and word text, for a
    model plugin whose embedding may be tied to a residual stream of ``width`` units.

    Character text keeps the plugin's own default, and so does a user who set
    ``tie_weights`` or an ``embedding_dim`` that differs from the width. Returns
    ``{name: (value, reason)}``, for an options class's ``suggest_options``.
    """
    if profile.granularity == "char" or "tie_weights" in given:
        return {}
    width_value = given.get(width, _field_default(options_cls, width))
    if given.get("embedding_dim", width_value) != width_value:
        return {}
    out = {"tie_weights": (True, f"{profile.granularity} text on {profile.device}")}
    if width != "embedding_dim":
        out["embedding_dim"] = (width_value, f"tied to {width}")
    return out


class ScanFamilyDefaults:
    """Base of the options dataclass of a model with a residual stream (the scan families).

    ``suggest_options`` ties the embedding for subword and word text
    (:func:`suggest_tied_embedding`, to the ``tied_width`` option) and suggests no dropout:
    at 5 minutes on tiny Shakespeare the LSTM's data-driven 0.1 made minGRU 0.038 and Hawk
    0.007 nats worse (docs/recipes.md), so longer runs set ``--dropout`` themselves.
    ``cpu_bf16 = False`` keeps fp32 on AMX CPUs: in bf16 Hawk ran 1.4x the steps and still
    ended 0.02 nats worse (the scans run in float32 anyway).
    """

    cpu_bf16: ClassVar[bool] = False
    tied_width: ClassVar[str] = "hidden_size"

    @classmethod
    def suggest_options(cls, profile: DataProfile, given: dict) -> dict:
        return suggest_tied_embedding(cls, profile, given, cls.tied_width)


def _field_default(options_cls, name: str):
    return next(f.default for f in dataclasses.fields(options_cls) if f.name == name)


def resolve_for(config, tokenizer, train_tokens: int, world_size: int = 1) -> tuple[Any, list[str]]:
    """``config`` with its unset options filled for this tokenizer and training text.

    :returns: the resolved config and the lines that say what was chosen and why.
    """
    from ..devices import resolve_device
    from ..registry import get_model

    info = get_model(config.model, task="lm")
    profile = DataProfile(granularity_of(tokenizer), int(train_tokens), tokenizer.vocab_size,
                          resolve_device(config.device).type, config.time_budget, world_size)

    def count_parameters(options: dict) -> int:
        return meta_parameter_count(info.factory, tokenizer.vocab_size, info.make_options(options))

    resolved, sources = resolve(config, profile, info.options, count_parameters)
    lines = describe_sources(resolved, sources)
    if lines:
        lines.insert(0, f"defaults for {profile.describe()} (a flag overrides any of them):")
    return resolved, lines


def resolve_with_data(config) -> tuple[Any, list[str]]:
    """:func:`resolve_for` after tokenizing the corpus through the token cache (which the
    training run then reuses), for ``--print-config``."""
    from ..data.lm_data import prepare_lm_data

    config = config.with_plugin_defaults()
    data = prepare_lm_data(config)
    return resolve_for(config, data.tokenizer, len(data.train))
