"""Defaults that follow the data: what a classifier run uses for the options left unset.

A user who names only labelled data (and maybe ``--time-budget``) should get the best
recipe measured for a data set of that size. The options that depend on the data are
``None`` in a :class:`~textrnn.training.classifier_config.ClassifierConfig` until
:func:`resolve` fills them from a :class:`DataProfile` (the number of training texts,
their words and distinct words, the validation size). The model plugin suggests its own
options (pooling, dropout) through ``suggest_options``, as language-model plugins do.
With ``init_from`` the language model's tokenizer is used, so the tokenizer defaults do
not apply. A value the user set (flag, config file or API) always wins, and every
resolved value is reported with where it came from.

The numbers come from the SST-2 runs in docs/recipes.md (section 3): ``bigru``, attention
pooling, dropout 0.5, token dropout 0.2, 8,000 unigram pieces, 8 epochs and an
exponential moving average of the weights with decay 0.99 gave the best dev accuracy
from scratch (0.8229 over two seeds). SST-2's 6,920 training texts are the reference
size; smaller or larger sets scale from there.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable

from .lm_defaults import describe_sources, granularity_of, suggested_model_options

REFERENCE_TEXTS = 6920  # SST-2's training set, where the recipe was measured
RECIPE = "the recipe measured best on SST-2, docs/recipes.md"
MODEL = "bigru"
TOKENIZER = "unigram"
TOKEN_DROPOUT = 0.2
EMA = 0.99
EPOCHS = 8  # at REFERENCE_TEXTS; scaled by sqrt(REFERENCE_TEXTS / texts) within EPOCH_RANGE
EPOCH_RANGE = (1, 40)
MAX_PIECES = 8000  # 6,000 and 8,000 tied on SST-2; 4,000 and bpe did worse
PIECES_PER_WORD = 0.55  # subword pieces per distinct training word, below MAX_PIECES
BYTE_PIECES = 256  # the subword tokenizers' byte fallback pieces, counted in vocab_size
WARMUP_STEPS = 50
EVAL_EVERY = 25  # steps; SST-2's recipe evaluated every 25 of its 217 steps per epoch
CLASSIFIER_FOR_CELL = {"lstm": "bilstm", "gru": "bigru"}  # the classifier an --init-from LM's cell starts


@dataclass(frozen=True)
class DataProfile:
    """What the classifier defaults depend on."""

    train_texts: int
    train_words: int  # whitespace-separated words in the training texts
    distinct_words: int
    distinct_chars: int
    valid_texts: int
    device: str = "cpu"
    time_budget: float | None = None

    def describe(self) -> str:
        return (f"{self.train_texts:,} training texts ({self.train_words:,} words, {self.distinct_words:,} distinct), "
                f"{self.valid_texts:,} for validation")


def profile_of(train_texts: Iterable[str], valid_texts: int, device: str = "cpu",
               time_budget: float | None = None) -> DataProfile:
    """Count what the defaults need from the training texts."""
    texts = list(train_texts)
    words, chars, total = set(), set(), 0
    for text in texts:
        split = text.split()
        total += len(split)
        words.update(split)
        chars.update(text)
    return DataProfile(len(texts), total, len(words), len(chars), valid_texts, device, time_budget)


def epochs_for(profile: DataProfile) -> tuple[float, str]:
    """8 epochs at SST-2's size; more for smaller sets (each epoch is fewer steps), fewer for larger."""
    scaled = EPOCHS * math.sqrt(REFERENCE_TEXTS / max(1, profile.train_texts))
    low, high = EPOCH_RANGE
    epochs = float(min(high, max(low, round(scaled))))  # a float, as the config field and TOML read it back
    return epochs, (f"{EPOCHS} at SST-2's {REFERENCE_TEXTS:,} texts, times sqrt({REFERENCE_TEXTS:,} / "
                    f"{profile.train_texts:,}), within {low} to {high}")


def vocab_size_for(profile: DataProfile) -> tuple[int, str]:
    """Subword pieces: about half the distinct training words, at most 8,000.

    sentencepiece refuses more pieces than the text supports (SST-2 allows 9,148), so a
    small data set gets fewer; the byte fallback's 256 pieces and one per character
    always fit.
    """
    floor = BYTE_PIECES + profile.distinct_chars + 4  # bytes, characters, <unk> and control pieces
    pieces = min(MAX_PIECES, max(floor, BYTE_PIECES + round(PIECES_PER_WORD * profile.distinct_words)))
    why = (f"at most {MAX_PIECES:,}: {RECIPE}" if pieces == MAX_PIECES else
           f"{BYTE_PIECES} byte pieces + {PIECES_PER_WORD} per distinct word")
    return pieces, f"{why}; {profile.distinct_words:,} distinct training words"


def steps_per_epoch(profile: DataProfile, batch_size: int) -> int:
    return max(1, math.ceil(profile.train_texts / batch_size))


def eval_every_for(profile: DataProfile, batch_size: int) -> tuple[int, str]:
    """Every 25 steps (so the best weights are picked often) while evaluation stays cheap:
    at least half a validation set's worth of texts trained between evaluations, and at
    least once per epoch."""
    per_epoch = steps_per_epoch(profile, batch_size)
    cheap = math.ceil(profile.valid_texts / (2 * batch_size))
    steps = min(per_epoch, max(EVAL_EVERY, cheap))
    if steps == per_epoch:
        return steps, "once per epoch"
    if steps == EVAL_EVERY:
        return steps, RECIPE
    return steps, f"half the {profile.valid_texts:,} validation texts trained between evaluations"


def warmup_for(profile: DataProfile, batch_size: int, epochs: float | None) -> tuple[int, str]:
    """50 steps, or a tenth of a short run."""
    if epochs is None:
        return WARMUP_STEPS, "--max-steps or --time-budget bounds the run"
    total = math.ceil(epochs * steps_per_epoch(profile, batch_size))
    if total >= 10 * WARMUP_STEPS:
        return WARMUP_STEPS, f"{total} steps planned"
    return max(1, total // 10), f"a tenth of {total} steps"


def resolve(config, profile: DataProfile, *, tokenizer_class=None, options_class=None,
            lm_model: str | None = None, lm_tokenizer: str | None = None) -> tuple[Any, dict[str, str]]:
    """``config`` with every unset option filled, and where each value came from.

    :param tokenizer_class: the class of the tokenizer the run will train (or the LM's).
    :param options_class: the chosen model's options class (for its ``suggest_options``).
    :param lm_model: with ``init_from``, the classifier model that matches the LM's cell.
    :param lm_tokenizer: with ``init_from``, the LM's tokenizer type.
    :returns: ``(config, sources)``; ``sources`` maps each resolved option to a short
        reason, and each option the user set to "set".
    """
    values, sources = {}, {}

    def choose(name: str, value: Any, why: str) -> None:
        if getattr(config, name) is None:
            values[name], sources[name] = value, why
        else:
            sources[name] = "set"

    if lm_model is not None:
        choose("model", lm_model, "the cell of the --init-from language model")
        choose("tokenizer", lm_tokenizer, "the --init-from language model's")
    else:
        choose("model", MODEL, RECIPE)
        choose("tokenizer", TOKENIZER, RECIPE)
    tokenizer_options = dict(config.tokenizer_options)
    if lm_model is None and granularity_of(tokenizer_class) == "subword" and "vocab_size" not in tokenizer_options:
        tokenizer_options["vocab_size"], sources["tokenizer_options.vocab_size"] = vocab_size_for(profile)
    has_unknown = tokenizer_class is None or _has_unknown(tokenizer_class)
    choose("token_dropout", TOKEN_DROPOUT if has_unknown else 0.0,
           RECIPE if has_unknown else "the tokenizer has no <unk> token to drop tokens to")
    choose("ema", EMA, RECIPE)
    if config.max_steps is None:
        choose("epochs", *epochs_for(profile))
    else:
        sources["epochs"] = "set" if config.epochs is not None else "--max-steps bounds the run"
    epochs = values.get("epochs", config.epochs)
    choose("warmup_steps", *warmup_for(profile, config.batch_size, epochs))
    choose("eval_every", *eval_every_for(profile, config.batch_size))
    model_options = dict(config.model_options)
    for name, (value, why) in suggested_model_options(options_class, profile, model_options).items():
        model_options[name] = value
        sources[f"model_options.{name}"] = why
    resolved = dataclasses.replace(config, **values, model_options=model_options, tokenizer_options=tokenizer_options)
    return resolved, sources


def _has_unknown(tokenizer_class) -> bool:
    """Whether the tokenizer has an ``<unk>`` id (it overrides ``unknown_ids``)."""
    from ..tokenizers import Tokenizer

    return getattr(tokenizer_class, "unknown_ids", None) is not Tokenizer.unknown_ids


def resolve_for(config, train_texts: Iterable[str], valid_texts: int, lm=None) -> tuple[Any, list[str]]:
    """``config`` with its unset options filled for this data.

    :param lm: the ``init_from`` language model (a ``LanguageModelSource``), if any; its
        cell picks the model and its tokenizer is used.
    :returns: the resolved config and the lines that say what was chosen and why.
    """
    from ..devices import resolve_device
    from ..errors import ConfigError
    from ..registry import get_model, get_tokenizer

    profile = profile_of(train_texts, valid_texts, resolve_device(config.device).type, config.time_budget)
    lm_model = lm_tokenizer = None
    if lm is not None:
        lm_model, lm_tokenizer = CLASSIFIER_FOR_CELL.get(lm.cell), lm.tokenizer_type
        if config.model is None and lm_model is None:
            raise ConfigError(f"cannot initialise from {lm.path}: no classifier model has a {lm.cell!r} cell; "
                              f"classifiers exist for {', '.join(CLASSIFIER_FOR_CELL)}")
    model = config.model or lm_model or MODEL
    tokenizer = config.tokenizer or lm_tokenizer or TOKENIZER
    tokenizer_class = type(lm.tokenizer) if lm is not None else get_tokenizer(tokenizer).cls
    resolved, sources = resolve(config, profile, tokenizer_class=tokenizer_class,
                                options_class=get_model(model, task="classifier").options,
                                lm_model=lm_model or model if lm is not None else None,
                                lm_tokenizer=lm_tokenizer)
    lines = describe_sources(resolved, sources)
    if lines:
        lines.insert(0, f"defaults for {profile.describe()} (a flag overrides any of them):")
    return resolved, lines



def resolve_with_data(config) -> tuple[Any, list[str]]:
    """:func:`resolve_for` after reading the labelled data (and the ``init_from`` run), for
    ``--print-config``."""
    from ..data.labelled import load_classifier_splits
    from .classifier_parts import LanguageModelSource

    train, valid, _ = load_classifier_splits(config.data, config.valid, config.valid_fraction, config.seed,
                                             config.text_field, config.label_field, config.encoding_errors)
    lm = LanguageModelSource(config.init_from) if config.init_from else None
    return resolve_for(config, train.texts, len(valid.texts), lm)
