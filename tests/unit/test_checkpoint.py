"""The checkpoint store: exact resume, corruption fallback, crash and disk-full safety,
pruning, tied weights, and refusing pickles."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import random
import shutil

import numpy as np
import pytest
import safetensors.torch
import torch
from torch import nn

from textrnn.errors import CheckpointError
from textrnn.training import checkpoint as ckpt
from textrnn.training.checkpoint import (
    best_checkpoint,
    capture_rng,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    load_model_tensors,
    mark_best,
    model_tensors,
    optimizer_from_tensors,
    optimizer_to_tensors,
    read_safetensors,
    restore_rng,
    save_checkpoint,
    verify_checkpoint,
    write_safetensors_atomic,
)

VOCAB = 11


class TinyLM(nn.Module):
    def __init__(self, hidden_size: int = 8, tie_weights: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, hidden_size)
        self.rnn = nn.LSTM(hidden_size, hidden_size, num_layers=2, dropout=0.3, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.decoder = nn.Linear(hidden_size, VOCAB)
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    def forward(self, ids):
        hidden, _ = self.rnn(self.dropout(self.embedding(ids)))  # (batch, time, hidden)
        return self.decoder(self.dropout(hidden))  # (batch, time, vocab)


def make_optimizer(kind: str, model: nn.Module, lr: float = 1e-2) -> torch.optim.Optimizer:
    if kind == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.8, 0.95), eps=1e-7, weight_decay=0.05)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-3)


def train_steps(model, optimizer, steps: int) -> None:
    """Batches come from torch's RNG and dropout is on, so the RNG state matters too."""
    model.train()
    for _ in range(steps):
        ids = torch.randint(0, VOCAB, (4, 7))
        logits = model(ids[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        random.random()  # python and numpy draws stand in for a shuffling data loader
        np.random.rand()


def save_state(run_dir, step, model, optimizer, **kwargs):
    model_t, model_meta = model_tensors(model)
    opt_t, opt_meta = optimizer_to_tensors(optimizer)
    rng_t, rng_meta = capture_rng()
    return save_checkpoint(
        run_dir, step,
        {"model": model_t, "optimizer": opt_t, "rng": rng_t},
        {"step": step, "model": model_meta, "optimizer": opt_meta, "rng": rng_meta},
        **kwargs,
    )


def restore_state(checkpoint, model, optimizer) -> None:
    load_model_tensors(model, checkpoint.tensors("model"), checkpoint.meta["model"])
    optimizer_from_tensors(optimizer, checkpoint.tensors("optimizer"), checkpoint.meta["optimizer"])
    restore_rng(checkpoint.tensors("rng"), checkpoint.meta["rng"])


def small_save(run_dir, step, value: float = 0.0, **kwargs):
    return save_checkpoint(run_dir, step, {"model": {"w": torch.full((64,), value)}}, {"step": step}, **kwargs)


def leftovers(run_dir):
    checkpoints = run_dir / "checkpoints"
    return sorted(p.name for p in checkpoints.iterdir() if p.name.startswith(".")) if checkpoints.exists() else []


# --------------------------------------------------------------------------- exact resume


@pytest.mark.parametrize("kind", ["adamw", "sgd"])
def test_resume_continues_bit_for_bit(tmp_path, kind):
    torch.manual_seed(0), random.seed(0), np.random.seed(0)
    model = TinyLM()
    optimizer = make_optimizer(kind, model)
    train_steps(model, optimizer, 3)
    save_state(tmp_path, 3, model, optimizer)
    train_steps(model, optimizer, 4)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    expected_groups = optimizer.state_dict()["param_groups"]

    torch.manual_seed(99), random.seed(99), np.random.seed(99)  # a fresh process, differently seeded
    resumed = TinyLM()
    resumed_optimizer = make_optimizer(kind, resumed, lr=0.5)
    assert not torch.equal(resumed.decoder.weight, model.decoder.weight)
    checkpoint, messages = load_latest(tmp_path)
    assert messages == [] and checkpoint.step == 3
    restore_state(checkpoint, resumed, resumed_optimizer)
    train_steps(resumed, resumed_optimizer, 4)

    for key, value in resumed.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert resumed_optimizer.state_dict()["param_groups"] == expected_groups
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            other = resumed_optimizer.state_dict()["state"][index][key]
            assert torch.equal(value, other) and value.dtype == other.dtype, (index, key)


def test_optimizer_hyperparameters_and_step_dtype_round_trip():
    model = TinyLM()
    optimizer = make_optimizer("adamw", model)
    train_steps(model, optimizer, 1)
    tensors, meta = optimizer_to_tensors(optimizer)
    json.dumps(meta)  # JSON-able as promised
    assert tensors["state.0.step"].dtype == optimizer.state_dict()["state"][0]["step"].dtype
    other = torch.optim.AdamW(model.parameters(), lr=0.3)
    optimizer_from_tensors(other, tensors, meta)
    group = other.param_groups[0]
    assert group["betas"] == (0.8, 0.95) and isinstance(group["betas"], tuple)
    assert (group["lr"], group["eps"], group["weight_decay"]) == (1e-2, 1e-7, 0.05)


def test_optimizer_of_another_type_is_refused():
    model = TinyLM()
    tensors, meta = optimizer_to_tensors(make_optimizer("adamw", model))
    with pytest.raises(CheckpointError, match="AdamW state but the optimizer is SGD"):
        optimizer_from_tensors(make_optimizer("sgd", model), tensors, meta)


def test_rng_round_trip():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    random.gauss(0, 1), np.random.normal()  # leave cached gaussians behind: they are state too
    tensors, meta = capture_rng()
    tensors, meta = safetensors.torch.load(safetensors.torch.save(tensors)), json.loads(json.dumps(meta))

    def draw():
        return ([random.random(), random.gauss(0, 1)], np.random.normal(size=3).tolist(), torch.rand(3))

    first = draw()
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    restore_rng(tensors, meta)
    second = draw()
    assert first[0] == second[0] and first[1] == second[1] and torch.equal(first[2], second[2])


def test_cuda_rng_states_are_captured_only_once_cuda_is_initialised(monkeypatch):
    """No GPU here: fake torch.cuda to check what is saved and restored, per device."""
    device_states = [torch.full((16,), 1, dtype=torch.uint8), torch.full((16,), 2, dtype=torch.uint8)]
    restored = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [t.clone() for t in device_states])
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: restored.__setitem__(device, state))
    tensors, meta = capture_rng()
    assert meta["cuda_devices"] == 0 and not any(k.startswith("torch.cuda") for k in tensors)

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    tensors, meta = capture_rng()
    assert meta["cuda_devices"] == 2 and torch.equal(tensors["torch.cuda.1"], device_states[1])
    restore_rng(tensors, meta)
    assert sorted(restored) == [0, 1] and torch.equal(restored[1], device_states[1])

    restored.clear()  # resuming a GPU run on a CPU-only machine: CUDA states are skipped
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restore_rng(tensors, meta)
    assert restored == {}


# --------------------------------------------------------------------------- layout and verification


def test_layout_and_manifest(tmp_path):
    path = small_save(tmp_path, 100)
    assert path == tmp_path / "checkpoints" / "step-00000100"
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "meta.json", "model.safetensors"]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["version"] == ckpt.FORMAT_VERSION and manifest["step"] == 100
    for name, entry in manifest["files"].items():
        data = (path / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    checkpoint = load_checkpoint(path)
    assert checkpoint.meta == {"step": 100} and checkpoint.names == ["model"]
    assert torch.equal(checkpoint.tensors("model")["w"], torch.zeros(64))
    with pytest.raises(CheckpointError, match="no 'optimizer' tensors"):
        checkpoint.tensors("optimizer")


def test_list_checkpoints_sorts_by_step_and_ignores_other_entries(tmp_path):
    for step in (1_000, 123_456_789, 20):
        small_save(tmp_path, step, keep_last=None)
    (tmp_path / "checkpoints" / ".tmp-step-00000500-4242").mkdir()
    (tmp_path / "checkpoints" / "notes.txt").write_text("hi")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000020", "step-00001000", "step-123456789"]
    assert list_checkpoints(tmp_path / "nowhere") == []
    assert load_latest(tmp_path / "nowhere") == (None, [])


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])


DAMAGE = {
    "bit flip": (flip_byte, "model.safetensors: checksum mismatch (bit flip or edit)"),
    "truncated": (truncate, "model.safetensors: truncated"),
    "missing": (lambda path: path.unlink(), "model.safetensors: missing"),
    "no manifest": (lambda path: (path.parent / "manifest.json").unlink(), "manifest.json: missing"),
    "bad manifest": (lambda path: (path.parent / "manifest.json").write_text("{not json"), "manifest.json: unreadable"),
    "edited meta": (lambda path: (path.parent / "meta.json").write_text('{"step": 1}\n'), "meta.json: "),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path, damage):
    small_save(tmp_path, 100, value=1.0)
    newest = small_save(tmp_path, 200, value=2.0)
    spoil, reason = DAMAGE[damage]
    spoil(newest / "model.safetensors")

    with pytest.raises(CheckpointError, match="step-00000200 is corrupt") as info:
        verify_checkpoint(newest)
    assert reason in str(info.value)
    checkpoint, messages = load_latest(tmp_path)
    assert checkpoint.step == 100 and torch.equal(checkpoint.tensors("model")["w"], torch.ones(64))
    assert len(messages) == 1
    assert messages[0].startswith(f"checkpoint step-00000200 is corrupt ({reason}")
    assert messages[0].endswith("; falling back to step-00000100")


def test_every_checkpoint_corrupt(tmp_path):
    flip_byte(small_save(tmp_path, 100) / "model.safetensors")
    checkpoint, messages = load_latest(tmp_path)
    assert checkpoint is None
    assert messages == ["checkpoint step-00000100 is corrupt (model.safetensors: checksum mismatch "
                        "(bit flip or edit)); no older checkpoint to fall back to"]


def test_file_changed_after_verification_is_caught_when_read(tmp_path):
    checkpoint = load_checkpoint(small_save(tmp_path, 100))
    flip_byte(checkpoint.path / "model.safetensors")
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        checkpoint.tensors("model")


# --------------------------------------------------------------------------- crashes and full disks


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    previous = small_save(tmp_path, 100, value=1.0)
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(CheckpointError, match=r"could not write checkpoint .*step-00000200: no space left on device"):
        small_save(tmp_path, 200, value=2.0)
    monkeypatch.undo()
    verify_checkpoint(previous)
    checkpoint, messages = load_latest(tmp_path)
    assert checkpoint.path == previous and messages == []
    assert leftovers(tmp_path) == [] and [p.name for p in list_checkpoints(tmp_path)] == ["step-00000100"]


def test_disk_full_halfway_through_a_file(tmp_path, monkeypatch):
    """The second file is torn mid-write: the temp dir goes, nothing else changes."""
    previous = small_save(tmp_path, 100, value=1.0)
    real_write = ckpt.store._write_bytes
    calls = []

    def torn_write(path, data):
        calls.append(path.name)
        if len(calls) == 2:
            path.write_bytes(data[: len(data) // 2])
            no_space()
        return real_write(path, data)

    monkeypatch.setattr(ckpt.store, "_write_bytes", torn_write)
    with pytest.raises(CheckpointError, match="no space left on device"):
        save_checkpoint(tmp_path, 200, {"model": {"w": torch.ones(8)}, "optimizer": {"m": torch.ones(8)}}, {})
    assert calls == ["model.safetensors", "optimizer.safetensors"]
    assert leftovers(tmp_path) == [] and list_checkpoints(tmp_path) == [previous]
    verify_checkpoint(previous)


def test_failed_resave_of_the_same_step_keeps_the_old_one(tmp_path, monkeypatch):
    path = small_save(tmp_path, 100, value=1.0)
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(CheckpointError):
        small_save(tmp_path, 100, value=2.0)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path).tensors("model")["w"], torch.ones(64))
    assert leftovers(tmp_path) == []


def test_resave_of_the_same_step_replaces_it_whole(tmp_path):
    small_save(tmp_path, 100, value=1.0)
    path = small_save(tmp_path, 100, value=2.0)
    assert torch.equal(load_checkpoint(path).tensors("model")["w"], torch.full((64,), 2.0))
    assert leftovers(tmp_path) == [] and list_checkpoints(tmp_path) == [path]


def test_crash_leftovers_are_ignored_then_cleaned_on_next_save(tmp_path):
    previous = small_save(tmp_path, 100)
    # What a crash mid-save leaves: a temp dir with a torn file and no manifest.
    stale = tmp_path / "checkpoints" / ".tmp-step-00000200-999999"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"\x10\x00")
    assert list_checkpoints(tmp_path) == [previous]
    assert load_latest(tmp_path) == (load_checkpoint(previous), [])
    small_save(tmp_path, 200)
    assert not stale.exists() and leftovers(tmp_path) == []


def test_unserialisable_meta_writes_nothing(tmp_path):
    with pytest.raises(CheckpointError, match="meta is not JSON-serialisable"):
        save_checkpoint(tmp_path, 1, {"model": {"w": torch.ones(2)}}, {"oops": object()})
    assert list_checkpoints(tmp_path) == [] and leftovers(tmp_path) == []


# --------------------------------------------------------------------------- pruning and best


def test_keep_last_prunes_old_checkpoints_but_keeps_best_and_protected(tmp_path):
    for step in (100, 200, 300):
        small_save(tmp_path, step, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000200", "step-00000300"]

    mark_best(tmp_path, tmp_path / "checkpoints" / "step-00000200", {"step": 200, "valid_loss": 1.25})
    assert json.loads((tmp_path / "best.json").read_text()) == {
        "checkpoint": "step-00000200", "step": 200, "valid_loss": 1.25}
    for step in (400, 500):
        small_save(tmp_path, step, keep_last=2, protect=["step-00000400"])
    small_save(tmp_path, 600, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000200", "step-00000500", "step-00000600"]
    assert best_checkpoint(tmp_path) == tmp_path / "checkpoints" / "step-00000200"
    assert leftovers(tmp_path) == []


def test_the_checkpoint_just_saved_is_never_pruned(tmp_path):
    """Resuming from 100 after a later 300 went bad: saving 200 must not delete 200."""
    small_save(tmp_path, 100)
    small_save(tmp_path, 300)
    path = small_save(tmp_path, 200, keep_last=1)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000200", "step-00000300"]
    assert path.is_dir()


def test_best_checkpoint(tmp_path):
    assert best_checkpoint(tmp_path) is None
    path = small_save(tmp_path, 100)
    mark_best(tmp_path, path, {"valid_loss": 2.0})
    assert best_checkpoint(tmp_path) == path
    small_save(tmp_path, 200)
    mark_best(tmp_path, "step-00000200", {"valid_loss": 1.0})
    assert best_checkpoint(tmp_path).name == "step-00000200"
    assert not list((tmp_path).glob(".best.json.tmp-*"))
    with pytest.raises(CheckpointError, match="not a checkpoint of"):
        mark_best(tmp_path, "step-00000999", {"valid_loss": 0.5})
    shutil.rmtree(tmp_path / "checkpoints" / "step-00000200")
    assert best_checkpoint(tmp_path) is None
    (tmp_path / "best.json").write_text("{torn")
    with pytest.raises(CheckpointError, match="best.json is unreadable"):
        best_checkpoint(tmp_path)


# --------------------------------------------------------------------------- pickles are refused


class Payload:
    """Unpickling this creates ``marker``: proof that a loader executed pickled code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def manifest_matching(path):
    """Rewrite the manifest so it vouches for whatever files are there now."""
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name in manifest["files"]:
        data = (path / name).read_bytes()
        manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("container", ["pickle", "torch.save"])
@pytest.mark.parametrize("with_manifest", [True, False])
def test_pickle_in_place_of_weights_is_refused_and_never_runs(tmp_path, container, with_manifest):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    good = small_save(run, 100)
    path = small_save(run, 200)
    weights = path / "model.safetensors"
    if container == "pickle":
        weights.write_bytes(pickle.dumps({"w": Payload(marker)}))
    else:
        torch.save({"w": Payload(marker)}, weights)
    if with_manifest:
        manifest_matching(path)

    with pytest.raises(CheckpointError, match="not a safetensors file.*never unpickles") as info:
        load_checkpoint(path)
    assert "model.safetensors" in str(info.value)
    checkpoint, messages = load_latest(run)
    assert checkpoint.path == good and "not a safetensors file" in messages[0]
    for loader in (read_safetensors, lambda p: load_model_tensors(TinyLM(), p)):
        with pytest.raises(CheckpointError, match="not a safetensors file"):
            loader(weights)
    pt_file = tmp_path / "model.pt"
    pt_file.write_bytes(weights.read_bytes())
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_safetensors(pt_file)
    if with_manifest:  # a Checkpoint verified earlier, then swapped underneath: still refused
        checkpoint = ckpt.Checkpoint(path=path, step=200, meta={}, files=json.loads(
            (path / "manifest.json").read_text())["files"])
        with pytest.raises(CheckpointError, match="not a safetensors file"):
            checkpoint.tensors("model")
    assert not marker.exists()

    # The payload is live: an unpickling loader would have run it.
    if container == "pickle":
        pickle.loads(weights.read_bytes())
    else:
        torch.load(pt_file, weights_only=False)  # torch.load reads *.safetensors names as safetensors
    assert marker.exists()


def test_damaged_safetensors_header_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_safetensors(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_safetensors(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_safetensors(tmp_path / "absent.safetensors")


# --------------------------------------------------------------------------- weights files and tied weights


def test_write_safetensors_atomic_round_trip_and_failure(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    write_safetensors_atomic(path, {"a": torch.arange(6.0).reshape(2, 3)}, metadata={"format": "textrnn"})
    assert torch.equal(read_safetensors(path)["a"], torch.arange(6.0).reshape(2, 3))
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(CheckpointError, match="no space left on device"):
        write_safetensors_atomic(path, {"a": torch.zeros(1)})
    monkeypatch.undo()
    assert torch.equal(read_safetensors(path)["a"], torch.arange(6.0).reshape(2, 3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_tied_weights_are_saved_once_and_stay_tied(tmp_path):
    torch.manual_seed(0)
    model = TinyLM(tie_weights=True)
    tensors, meta = model_tensors(model)
    assert meta == {"aliases": {"decoder.weight": "embedding.weight"}}
    assert "decoder.weight" not in tensors
    path = save_checkpoint(tmp_path, 1, {"model": tensors}, {"model": meta})
    write_safetensors_atomic(tmp_path / "model.safetensors", tensors)

    for source in (load_checkpoint(path).tensors("model"), tmp_path / "model.safetensors"):
        torch.manual_seed(1)
        fresh = TinyLM(tie_weights=True)
        load_model_tensors(fresh, source, meta)
        assert fresh.decoder.weight is fresh.embedding.weight
        for key, value in model.state_dict().items():
            assert torch.equal(fresh.state_dict()[key], value), key


def test_untied_model_has_no_aliases():
    tensors, meta = model_tensors(TinyLM())
    assert meta == {"aliases": {}} and set(tensors) == set(TinyLM().state_dict())


def test_load_model_tensors_is_strict_and_names_the_key():
    tensors, meta = model_tensors(TinyLM(hidden_size=8))
    with pytest.raises(CheckpointError, match=r"'embedding.weight' has shape \[11, 8\], the model expects \[11, 16\]"):
        load_model_tensors(TinyLM(hidden_size=16), tensors, meta)
    missing = dict(tensors)
    del missing["decoder.bias"]
    with pytest.raises(CheckpointError, match="lack 'decoder.bias'"):
        load_model_tensors(TinyLM(), missing, meta)
    with pytest.raises(CheckpointError, match="have 'extra.weight'"):
        load_model_tensors(TinyLM(), {**tensors, "extra.weight": torch.zeros(1)}, meta)
