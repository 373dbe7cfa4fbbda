"""textrnn.contracts: what supports() answers, and each optional-capability check of the kit fails when it should."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from textrnn.contracts import (ClassifierLayout, FusedStepLayout, InitFromLanguageModel, LayerGroups, RecurrentStep,
                               ThreadedEncoding, TokenEmbedding, capabilities, supports)
from textrnn.registry import get_model
from textrnn.testing import check_classifier, check_language_model, check_model

from .test_model_contracts import FlawedLM


def build(name: str, **options):
    info = get_model(name)
    torch.manual_seed(0)
    return info.factory(23, info.make_options({"embedding_dim": 8, "hidden_size": 8, **options}))


# -- supports() -------------------------------------------------------------------------------

def test_first_party_models_offer_what_the_trainer_and_generator_use():
    assert capabilities(build("lstm")) == ["TokenEmbedding", "FusedStepLayout"]
    assert capabilities(build("bigru")) == ["LayerGroups", "InitFromLanguageModel", "TokenEmbedding",
                                            "ClassifierLayout"]
    assert supports(build("mingru"), RecurrentStep) and not supports(build("mingru"), FusedStepLayout)


def test_fused_layout_must_be_declared_on_the_class_itself():
    lstm = build("lstm")

    class Subclass(type(lstm)):  # may override forward, so it must opt in again
        pass

    lstm.__class__ = Subclass
    assert not supports(lstm, FusedStepLayout)
    Subclass.fused_step_layout = "embedding-rnn-decoder"
    assert supports(lstm, FusedStepLayout)


def test_attributes_are_checked_beyond_their_names():
    model = FlawedLM(11)
    assert supports(model, TokenEmbedding)
    model.embedding = nn.Linear(4, 4)  # named embedding, but not a table
    assert not supports(model, TokenEmbedding)
    assert not supports(model, FusedStepLayout) and not supports(model, ClassifierLayout)


def test_threaded_encoding_is_a_declaration():
    from textrnn.registry import get_tokenizer

    assert supports(get_tokenizer("bpe").cls.__new__(get_tokenizer("bpe").cls), ThreadedEncoding)
    assert not supports(get_tokenizer("char").cls([]), ThreadedEncoding)


def test_supports_refuses_what_is_not_a_capability():
    with pytest.raises(TypeError, match="not a capability"):
        supports(build("lstm"), nn.Module)


# -- each capability check fails when the capability is broken ----------------------------------

class GroupedLM(FlawedLM):
    """FlawedLM with layer groups, a one-token step and init from a language model, each breakable."""

    def __init__(self, vocab_size, options=None, flaw=None):
        super().__init__(vocab_size, options, None)
        self.flaw = flaw

    def layer_groups(self):
        groups = [[self.embedding.weight], list(self.rnn.parameters()), list(self.decoder.parameters())]
        if self.flaw == "groups top down":
            groups.reverse()
        if self.flaw == "group misses a parameter":
            groups[-1] = groups[-1][:1]
        if self.flaw == "parameter in two groups":
            groups[1].append(self.embedding.weight)  # still bottom to top: only the repeat is wrong
        return groups

    def step(self, ids, state=None):
        logits, state = self(ids[:, None], state)
        if self.flaw == "step drops the state":
            state = tuple(torch.zeros_like(s) for s in state)
        return logits[:, 0], state

    @torch.no_grad()
    def init_from_language_model(self, tensors):
        if "embedding.weight" not in tensors:
            if self.flaw == "init accepts anything":
                return []
            raise ValueError("no embedding.weight")
        self.embedding.weight.copy_(tensors["embedding.weight"])
        copied = ["embedding.weight"]
        if self.flaw == "init copies more than it says":
            self.decoder.bias.copy_(tensors["decoder.bias"])
        if self.flaw == "init names what it did not copy":
            copied.append("decoder.weight")
        if self.flaw == "init copies something else":
            self.embedding.weight.add_(1.0)
        return copied


def grouped(flaw):
    return lambda vocab_size, options: GroupedLM(vocab_size, options, flaw)


def test_a_model_keeping_its_capabilities_passes():
    checked = check_language_model(grouped(None), None)
    assert {"layer groups", "one-token step", "embedding", "truncated BPTT",
            "init from a language model (refuses nothing)"} <= set(checked)


@pytest.mark.parametrize("flaw, contract, detail", [
    ("groups top down", "layer groups", "bottom to top"),
    ("group misses a parameter", "layer groups", "no group holds 'decoder.bias'"),
    ("parameter in two groups", "layer groups", "'embedding.weight' is in groups 0 and 1"),
    ("step drops the state", "one-token step", "step"),
    ("init accepts anything", "init from a language model", "must raise ValueError"),
])
def test_a_broken_capability_fails_its_contract(flaw, contract, detail):
    with pytest.raises(AssertionError, match=f"contract '{contract}' failed for model 'grouped': .*{detail}"):
        check_language_model(grouped(flaw), None, name="grouped")


@dataclasses.dataclass
class Options:
    num_classes: int = 3


class GroupedClassifier(GroupedLM):
    """A classifier over GroupedLM's encoder: the last position's logits, projected to classes."""

    def __init__(self, vocab_size, options, flaw=None):
        super().__init__(vocab_size, None, flaw)
        self.head = nn.Linear(vocab_size, options.num_classes)

    def layer_groups(self):
        return super().layer_groups()[:-1] + [[*self.decoder.parameters(), *self.head.parameters()]]

    def forward(self, ids, lengths):
        logits, _ = super().forward(ids)  # (B, T, V)
        last = logits[torch.arange(ids.shape[0]), lengths - 1]  # (B, V): the last real token, padding unread
        return self.head(last)


@pytest.mark.parametrize("flaw", ["init copies more than it says", "init names what it did not copy",
                                  "init copies something else"])
def test_init_from_a_language_model_copies_exactly_what_it_says(flaw):
    language_model = (lambda vocab_size, options: FlawedLM(vocab_size), None)
    check_classifier(lambda v, o: GroupedClassifier(v, o), Options(), language_model=language_model)
    with pytest.raises(AssertionError, match="contract 'init from a language model' failed"):
        check_classifier(lambda v, o: GroupedClassifier(v, o, flaw), Options(), language_model=language_model)


class Bypass(FlawedLM):
    """Reads another table than ``embedding``, which is frozen (so no gradient check sees it)."""

    def __init__(self, vocab_size, options=None, flaw="unread"):
        super().__init__(vocab_size)
        self.table = nn.Embedding(vocab_size, 8)
        self.embedding.weight.requires_grad_(False)
        if flaw == "unregistered":
            del self.embedding
            self.__dict__["embedding"] = nn.Embedding(vocab_size, 8)  # not a submodule: not saved, not trained

    def forward(self, ids, state=None):
        out, h = self.rnn(self.table(ids), None if state is None else state[0])
        return self.decoder(out), (h,)


@pytest.mark.parametrize("flaw, detail", [("unread", "do not change"), ("unregistered", "not a parameter")])
def test_an_embedding_the_forward_does_not_read_fails(flaw, detail):
    with pytest.raises(AssertionError, match=f"contract 'embedding' failed.*{detail}"):
        check_language_model(lambda v, o: Bypass(v, o, flaw), None)


def test_fused_step_that_differs_from_forward_fails(monkeypatch):
    lstm = get_model("lstm")
    cls = type(build("lstm"))
    original = cls.forward

    def scaled(self, ids, state=None):  # forward no longer what the declared layout computes
        logits, state = original(self, ids, state)
        return logits * 1.5, state

    check_model("lstm", embedding_dim=8, hidden_size=8)
    monkeypatch.setattr(cls, "forward", scaled)
    with pytest.raises(AssertionError, match="contract 'fused step layout' failed"):
        check_language_model(lstm.factory, lstm.make_options({"embedding_dim": 8, "hidden_size": 8}))


def test_every_classifier_registered_with_init_from_is_checked_against_its_language_model():
    assert "init from a language model" in check_model("bilstm", embedding_dim=8, hidden_size=8, num_layers=2)
    assert "init from a language model" in check_model("bigru", embedding_dim=8, hidden_size=8)
    assert isinstance(build("bigru"), InitFromLanguageModel) and isinstance(build("bigru"), LayerGroups)


class KeepsGraph(FlawedLM):
    """Adds its last output state inside forward without detaching it: a second backward fails."""

    def forward(self, ids, state=None):
        logits, (h,) = super().forward(ids, state)
        if getattr(self, "_last", None) is not None and self.training:
            logits = logits + self._last.mean()
        self._last = h
        return logits, (h,)


def test_a_model_that_keeps_the_graph_between_windows_fails_truncated_bptt():
    with pytest.raises(AssertionError, match="contract 'truncated BPTT' failed"):
        check_language_model(lambda v, o: KeepsGraph(v), None)


def test_a_tokenizer_that_encodes_on_threads_is_not_given_worker_processes(monkeypatch):
    from textrnn.data import lm_data
    from textrnn.registry import get_tokenizer

    monkeypatch.setattr(lm_data, "available_cores", lambda: 4)
    big = lm_data.POOL_MIN_BYTES
    bpe, char = get_tokenizer("bpe").cls, get_tokenizer("char").cls
    assert lm_data.default_workers(bpe.__new__(bpe), big) == 1
    assert lm_data.default_workers(char([]), big) == 4 and lm_data.default_workers(char([]), big - 1) == 1

    class Threaded(char):  # a plugin's tokenizer says so itself
        threaded_encode = True

    assert lm_data.default_workers(Threaded([]), big) == 1
