"""Building a classifier, started from a language-model run's weights where asked (ULMFiT)."""

from __future__ import annotations

from textrnn.errors import ConfigError, RunError


def build_classifier(info, options, tokenizer, lm, message):
    """``info``'s model for ``tokenizer``; with ``lm`` (a LanguageModelSource) its embedding and
    encoder copied in, after checking that the sizes and cell type agree."""
    model = info.factory(tokenizer.vocab_size, options)
    if lm is None:
        return model
    differences = lm.differences(options, getattr(model, "cell", None))
    if differences:
        raise ConfigError(f"cannot initialise from {lm.path}: the sizes differ: {', '.join(differences)}")
    if not hasattr(model, "init_from_language_model"):
        raise ConfigError(f"model {info.name!r} cannot be initialised from a language model")
    try:
        copied = model.init_from_language_model(lm.weights())
    except ValueError as exc:
        raise RunError(f"cannot initialise from {lm.path}: {exc}") from None
    message(f"initialised {len(copied)} tensors (embedding and recurrent encoder) from {lm.path}")
    return model
