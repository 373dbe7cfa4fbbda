"""The recurrent classifier plugin, labelled-data helpers, metrics, exact resume and a learning test."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from textrnn.classification import classification_metrics, pad_batch, predict_logits
from textrnn.data.labelled import label_names, read_labelled, stratified_split
from textrnn.errors import ConfigError, TrainingInterrupted
from textrnn.registry import get_model
from textrnn.training import checkpoint as ckpt
from textrnn.training.classifier_config import ClassifierConfig
from textrnn.training.classifier_parts import adversarial_step, epoch_batches
from textrnn.training.loop import train as train_run

POOLINGS = ("last", "max", "mean", "attention", "maxmean")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and much faster than two on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(name="bilstm", vocab_size=40, **options):
    info = get_model(name, task="classifier")
    values = {"embedding_dim": 12, "hidden_size": 10, "num_layers": 2, "num_classes": 3, "dropout": 0.0,
              "embedding_dropout": 0.0, **options}
    torch.manual_seed(0)
    return info.factory(vocab_size, info.make_options(values)).eval()


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("name", ["bilstm", "bigru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_never_changes_the_output(name, pooling, bidirectional):
    model = build(name, pooling=pooling, bidirectional=bidirectional)
    gen = torch.Generator().manual_seed(1)
    seqs = [torch.randint(1, 40, (n,), generator=gen).tolist() for n in (5, 1, 9, 3)]
    ids, lengths = pad_batch(seqs)  # (4, 9)
    with torch.no_grad():
        batched = model(ids, lengths)
        # whatever sits in the padding must not matter
        noisy = ids.clone()
        for row, n in enumerate(lengths.tolist()):
            noisy[row, n:] = torch.randint(1, 40, (ids.size(1) - n,), generator=gen)
        batched_noisy = model(noisy, lengths)
        # nor how much padding there is
        wider = torch.cat([ids, torch.zeros(4, 6, dtype=torch.long)], dim=1)
        batched_wide = model(wider, lengths)
        for row, seq in enumerate(seqs):
            alone = model(torch.tensor([seq]), torch.tensor([len(seq)]))
            torch.testing.assert_close(batched[row], alone[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batched, batched_noisy, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(batched, batched_wide, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("pooling", ["last", "attention"])
@pytest.mark.parametrize("name", ["bilstm", "bigru"])
def test_weight_dropout_drops_recurrent_weights_only_while_training(name, pooling):
    ids, lengths = pad_batch([[3, 4, 5], [6], [7, 8, 9, 10, 11], [12, 13]])  # unsorted lengths
    model = build(name, pooling=pooling, weight_dropout=0.5)
    with torch.no_grad():
        plain = model.rnn(torch.nn.utils.rnn.pack_padded_sequence(
            model.embedding(ids), lengths, batch_first=True, enforce_sorted=False))
        evaluated = model(ids, lengths)
        model.options.weight_dropout = 0.0
        torch.testing.assert_close(model(ids, lengths), evaluated, rtol=0, atol=0)  # no dropout at evaluation
        model.train()
        reference = model(ids, lengths)
        # a mask that keeps everything: the fused-kernel path computes what the module computes,
        # final states included, in the batch's own row order
        model.options.weight_dropout = 1e-12
        out, final = model._recurrent(torch.nn.utils.rnn.pack_padded_sequence(
            model.embedding(ids), lengths, batch_first=True, enforce_sorted=False))
        torch.testing.assert_close(model(ids, lengths), reference, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out.data, plain[0].data, rtol=1e-6, atol=1e-6)
    for got, want in zip(final if name == "bilstm" else [final], plain[1] if name == "bilstm" else [plain[1]]):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    model.options.weight_dropout = 0.5
    torch.manual_seed(3)
    dropped = model(ids, lengths)
    assert not torch.allclose(dropped, reference, atol=1e-4)
    dropped.sum().backward()
    assert model.rnn.weight_hh_l0.grad.abs().sum() > 0 and model.rnn.weight_ih_l0.grad.abs().sum() > 0


@pytest.mark.parametrize("pooling", POOLINGS)
def test_shapes_and_gradients(pooling):
    model = build(pooling=pooling, num_classes=5).train()
    ids, lengths = pad_batch([[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11]])
    logits = model(ids, lengths)
    assert logits.shape == (3, 5) and logits.dtype == torch.float32
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    # an empty text (length 0) is read as one padding token instead of crashing the packer
    empty = model.eval()(torch.zeros(1, 1, dtype=torch.long), torch.tensor([0]))
    assert empty.shape == (1, 5) and torch.isfinite(empty).all()


def test_adversarial_step_adds_the_perturbed_gradient_and_restores_the_table():
    import contextlib

    import torch.nn.functional as F

    model = build().train()
    ids, lengths = pad_batch([[1, 2, 3], [4, 5], [6, 7, 8, 9]])
    y = torch.tensor([0, 1, 2])
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    table = model.embedding.weight
    before = table.detach().clone()

    def gradients(epsilon):
        model.zero_grad()
        F.cross_entropy(model(ids, lengths), y).backward()
        plain = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        adversarial_step(model, epsilon, lambda: model(ids, lengths), y, None, contextlib.nullcontext(), scaler)
        return plain, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain, both = gradients(1e-6)  # a vanishing step: the second pass repeats the first
    assert torch.equal(table, before), "the embedding table was not restored bitwise"
    for name in plain:
        torch.testing.assert_close(both[name], 2 * plain[name], atol=1e-6, rtol=1e-4)
    plain, both = gradients(1.0)
    assert torch.equal(table, before)
    # a real step: the perturbed loss is higher, so its gradient differs from the clean one
    assert not torch.allclose(both["head.weight"], 2 * plain["head.weight"], atol=1e-6)
    model.embedding.weight.requires_grad_(False)  # frozen embedding (gradual unfreezing): no second pass
    plain, both = gradients(1.0)
    assert all(torch.equal(both[n], plain[n]) for n in plain)


def test_pooling_reads_every_position():
    """max/mean/attention pooling must see the first token, not only the last state."""
    for pooling in ("max", "mean", "attention", "maxmean"):
        model = build(pooling=pooling, bidirectional=False)
        with torch.no_grad():
            a = model(torch.tensor([[1, 2, 3, 4]]), torch.tensor([4]))
            b = model(torch.tensor([[7, 2, 3, 4]]), torch.tensor([4]))
        assert not torch.allclose(a, b), pooling


def test_options_are_validated():
    info = get_model("bilstm", task="classifier")
    for bad in ({"pooling": "sum"}, {"num_classes": 1}, {"dropout": 1.0}, {"hidden_size": 0}):
        with pytest.raises(ConfigError):
            info.make_options(bad)
    assert info.make_options({}).pooling == "attention" and info.make_options({}).bidirectional is True


def test_layer_groups_cover_every_parameter_once():
    for pooling in ("attention", "max"):
        model = build(pooling=pooling, num_layers=3)
        groups = model.layer_groups()
        assert len(groups) == 1 + 3 + 1  # embedding, three recurrent layers, head
        ids = [id(p) for group in groups for p in group]
        assert sorted(ids) == sorted(id(p) for p in model.parameters())
        assert groups[0] == [model.embedding.weight]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_direction_reproduces_the_language_model(cell):
    """After init_from_language_model the forward half of the top layer equals the LM's states."""
    lm_info = get_model(cell, task="lm")
    torch.manual_seed(3)
    lm = lm_info.factory(40, lm_info.make_options({"embedding_dim": 12, "hidden_size": 10, "num_layers": 2})).eval()
    model = build("bilstm" if cell == "lstm" else "bigru")
    tensors, aliases = ckpt.model_tensors(lm)
    copied = model.init_from_language_model(tensors)
    assert "embedding.weight" in copied and "rnn.weight_ih_l1_reverse" in copied
    ids = torch.randint(0, 40, (2, 6))
    with torch.no_grad():
        lm_states, _ = lm.rnn(lm.embedding(ids))  # (2, 6, 10)
        states, _ = model.rnn(model.embedding(ids))  # (2, 6, 20): forward ++ backward
    torch.testing.assert_close(states[..., :10], lm_states, atol=1e-6, rtol=1e-5)
    bad = dict(tensors, **{"rnn.weight_hh_l0": torch.zeros(3, 3)})
    with pytest.raises(ValueError, match="weight_hh_l0"):
        model.init_from_language_model(bad)


# --------------------------------------------------------------------------- data helpers


def test_label_names_are_sorted_and_stable():
    assert label_names(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert label_names(["pos", "neg", "neutral"]) == ["neg", "neutral", "pos"]
    assert label_names(["1", "b", "a"]) == ["1", "a", "b"]


def test_stratified_split_keeps_class_shares_and_is_seeded():
    labels = ["a"] * 90 + ["b"] * 10 + ["c"] * 2
    train, valid = stratified_split(labels, 0.2, seed=5)
    assert sorted(train + valid) == list(range(len(labels)))
    counts = {k: sum(labels[i] == k for i in valid) for k in "abc"}
    assert counts == {"a": 18, "b": 2, "c": 1}
    assert stratified_split(labels, 0.2, seed=5) == (train, valid)
    assert stratified_split(labels, 0.2, seed=6) != (train, valid)


def test_epoch_batches_cover_every_row_and_bucket_by_length():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 100, size=1000)
    batches = epoch_batches(lengths, 8, seed=1, epoch=0)
    assert len(batches) == math.ceil(1000 / 8)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    assert spread < 10  # sorted within chunks: a batch holds texts of similar length
    again = epoch_batches(lengths, 8, seed=1, epoch=0)
    assert all((a == b).all() for a, b in zip(batches, again))
    other = epoch_batches(lengths, 8, seed=1, epoch=1)
    assert any((a != b).any() for a, b in zip(batches, other) if len(a) == len(b))


def test_class_weights_are_inverse_frequency():
    from textrnn.data.labelled import class_weights

    assert class_weights(np.array([0, 0, 0, 1]), 2) == pytest.approx([4 / 6, 2.0])
    assert class_weights(np.array([0, 1, 2]), 3) == pytest.approx([1.0, 1.0, 1.0])


def test_tsv_reader_splits_at_the_first_tab(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text('label\ttext\n1\ta "quoted" text\twith a tab\n0\t  \nneg\tfine\r\n', encoding="utf-8")
    data = read_labelled(path)
    assert data.texts == ['a "quoted" text\twith a tab', "fine"]
    assert data.labels == ["1", "neg"] and data.skipped_empty == 1


def test_metrics_by_hand():
    labels = ["neg", "pos"]
    true = np.array([0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    m = classification_metrics(true, probs, labels)
    assert set(m) == {"accuracy", "macro_f1", "per_class", "confusion", "log_loss"}
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["confusion"] == {"neg": {"neg": 1, "pos": 1}, "pos": {"neg": 1, "pos": 2}}
    assert m["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["pos"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["neg"]["f1"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    expected = -np.mean(np.log([0.9, 0.4, 0.8, 0.7, 0.4]))
    assert m["log_loss"] == pytest.approx(expected)


def test_predict_logits_returns_input_order():
    model = build(pooling="mean")
    seqs = [[1] * n for n in (7, 2, 9, 1, 4)] + [[3, 4, 5]]
    logits = predict_logits(model, seqs, torch.device("cpu"), batch_size=2)
    for i, seq in enumerate(seqs):
        with torch.no_grad():
            alone = model(torch.tensor([seq]), torch.tensor([len(seq)]))[0]
        torch.testing.assert_close(logits[i], alone, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- training


POSITIVE = ["good", "great", "fine", "superb", "lovely", "fun"]
NEGATIVE = ["bad", "awful", "dull", "poor", "boring", "weak"]
FILLER = ["the", "film", "was", "plot", "and", "a", "movie", "acting", "very", "quite", "it", "felt", "story"]


def synthetic_sentiment(n: int, seed: int) -> list[tuple[str, str]]:
    """Rows whose label is decidable from content: one opinion word among filler words,
    flipped by a preceding "not"."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        negated = rng.random() < 0.3
        word = rng.choice(NEGATIVE if positive == negated else POSITIVE)
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))]
        at = rng.randint(0, len(words))
        words[at:at] = ["not", word] if negated else [word]
        rows.append(("pos" if positive else "neg", " ".join(words)))
    return rows


def write_tsv(path, rows):
    path.write_text("label\ttext\n" + "".join(f"{y}\t{x}\n" for y, x in rows), encoding="utf-8")
    return path


def test_learns_synthetic_sentiment(tmp_path):
    """CI learning test: >= 0.95 validation accuracy on held-out synthetic reviews, in seconds."""
    train = write_tsv(tmp_path / "train.tsv", synthetic_sentiment(1200, seed=1))
    valid = write_tsv(tmp_path / "valid.tsv", synthetic_sentiment(300, seed=2))
    # word tokens and no token dropout or weight averaging: 152 steps of a 32-unit LSTM learn this
    # (the data-driven defaults, unigram pieces and all, need more steps; see test_classifier_defaults)
    config = ClassifierConfig(data=str(train), valid=str(valid), model="bilstm", tokenizer="word", model_options={
        "embedding_dim": 32, "hidden_size": 32, "embedding_dropout": 0.0, "dropout": 0.0},
        batch_size=32, lr=1e-2, warmup_steps=10, epochs=4, token_dropout=0.0, ema=0.0, seed=0, threads=1)
    summary = train_run("classifier", config, tmp_path / "run")
    assert summary["best_valid_accuracy"] >= 0.95, summary
    import textrnn

    run = textrnn.load(tmp_path / "run")
    out = run.classify(["the film was not good", "it felt quite superb", "a boring plot"])
    assert [r["label"] for r in out] == ["neg", "pos", "neg"]
    assert all(abs(sum(r["probs"].values()) - 1) < 1e-5 for r in out)


def test_resume_after_a_signal_is_exact(tmp_path):
    """Stop mid-epoch on a signal, resume, and end with bit-identical weights."""
    train = write_tsv(tmp_path / "train.tsv", synthetic_sentiment(300, seed=3))
    config = dict(data=str(train), model_options={"embedding_dim": 16, "hidden_size": 16, "dropout": 0.2},
                  batch_size=16, max_steps=45, eval_every=20, token_dropout=0.1, seed=4, threads=1)
    train_run("classifier", ClassifierConfig(**config), tmp_path / "whole")

    calls = {"n": 0}

    def stop_after_27_steps():
        calls["n"] += 1
        return 15 if calls["n"] == 28 else None  # 28th check happens before step 28: 27 steps done

    with pytest.raises(TrainingInterrupted) as caught:
        train_run("classifier", ClassifierConfig(**config), tmp_path / "split", stop_requested=stop_after_27_steps)
    assert caught.value.checkpoint.endswith("step-00000027")
    train_run("classifier", ClassifierConfig(**config), tmp_path / "split", resume=True)

    whole = ckpt.load_latest(tmp_path / "whole")[0]
    split = ckpt.load_latest(tmp_path / "split")[0]
    assert whole.step == split.step == 45
    for key, value in whole.tensors("model").items():
        assert torch.equal(value, split.tensors("model")[key]), key
    assert whole.meta["best"] == split.meta["best"]
