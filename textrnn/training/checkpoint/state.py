"""What a checkpoint stores: a model, an optimizer and the random number generators as
``(tensors, json)`` pairs, and back, bit for bit; and resume's common restore.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...atomic import json_bytes
from ...errors import CheckpointError, RunError
from .files import describe_error, read_safetensors
from .store import Checkpoint, load_latest


def model_tensors(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict]:
    """The model's ``state_dict`` as tensors safetensors can store, plus JSON.

    Tied weights (``decoder.weight`` *is* ``embedding.weight``; Press & Wolf 2017) are
    stored once; the JSON maps each alias to the key that holds the data:
    ``{"aliases": {"decoder.weight": "embedding.weight"}}``. CPU tensors may share
    memory with the live parameters: serialise them before the next optimizer step.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}  # exact view -> first key
    storages: set[int] = set()
    for key, value in model.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"model state {key!r} is a {type(value).__name__}, not a tensor; "
                                  "textrnn checkpoints hold tensors only")
        value = value.detach()
        view = (_storage_id(value), value.storage_offset(), tuple(value.shape), value.stride(), value.dtype)
        if view in seen and value.numel() > 0:
            aliases[key] = seen[view]
            continue
        seen[view] = key
        shares = view[0] in storages
        storages.add(view[0])
        value = value.to("cpu")
        tensors[key] = value.clone() if shares else value.contiguous()
    return tensors, {"aliases": aliases}


def load_model_tensors(model: torch.nn.Module, tensors: Mapping[str, torch.Tensor] | str | os.PathLike,
                       aliases_meta: dict | None = None) -> None:
    """Load weights from :func:`model_tensors` output into ``model``, strictly.

    :param tensors: the tensors, or the path of a safetensors file (anything that is
        not safetensors is refused, never unpickled).
    :param aliases_meta: the JSON returned by :func:`model_tensors` (``{"aliases": ...}``).
    :raises CheckpointError: naming the first key that is missing, unexpected or of
        the wrong shape.
    """
    if isinstance(tensors, (str, os.PathLike)):
        tensors = read_safetensors(Path(tensors))
    state = dict(tensors)
    for alias, source in ((aliases_meta or {}).get("aliases") or {}).items():
        if source not in tensors:
            raise CheckpointError(f"checkpoint weights: {alias!r} is tied to {source!r}, which is missing")
        state[alias] = tensors[source]
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise CheckpointError(f"checkpoint weights lack {key!r}; they were saved from a different model")
        if tuple(state[key].shape) != tuple(value.shape):
            raise CheckpointError(f"checkpoint weights do not fit the model: {key!r} has shape "
                                  f"{list(state[key].shape)}, the model expects {list(value.shape)}")
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise CheckpointError(f"checkpoint weights have {unexpected[0]!r}, which the model does not; "
                              "they were saved from a different model")
    model.load_state_dict(state, strict=True)


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Flatten ``optimizer.state_dict()``: tensors under ``state.{index}.{key}`` (and
    ``param_groups.{i}.{key}`` for a tensor hyperparameter), everything else JSON."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    storages: set[int] = set()

    def put(key: str, value: torch.Tensor) -> None:
        value = value.detach().to("cpu")
        storage = _storage_id(value)
        tensors[key] = value.clone() if storage in storages else value.contiguous()
        storages.add(storage)

    state_json: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        plain = {}
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                put(f"state.{index}.{key}", value)
            else:
                plain[key] = value
        state_json[str(index)] = plain
    groups, tuple_keys = [], []
    for i, group in enumerate(state_dict["param_groups"]):
        plain, tuples = {}, []
        for key, value in group.items():
            if isinstance(value, torch.Tensor):
                put(f"param_groups.{i}.{key}", value)
            elif isinstance(value, tuple):
                plain[key] = list(value)
                tuples.append(key)
            else:
                plain[key] = value
        groups.append(plain)
        tuple_keys.append(tuples)
    meta = {"type": type(optimizer).__name__, "state": state_json, "param_groups": groups,
            "tuple_keys": tuple_keys}
    try:
        json_bytes(meta)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{type(optimizer).__name__} state holds a value JSON cannot store: {exc}") from None
    return tensors, meta


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                           meta: dict) -> None:
    """Inverse of :func:`optimizer_to_tensors`; restores the state bit for bit."""
    if meta.get("type") != type(optimizer).__name__:
        raise CheckpointError(f"checkpoint holds {meta.get('type')} state but the optimizer is "
                              f"{type(optimizer).__name__}")
    state: dict[int, dict[str, Any]] = {int(index): dict(plain) for index, plain in meta["state"].items()}
    groups = [dict(group) for group in meta["param_groups"]]
    for i, keys in enumerate(meta.get("tuple_keys", [])):
        for key in keys:
            groups[i][key] = tuple(groups[i][key])
    for name, value in tensors.items():
        kind, _, rest = name.partition(".")
        index, _, key = rest.partition(".")
        if kind == "state" and index.isdigit() and key:
            state.setdefault(int(index), {})[key] = value
        elif kind == "param_groups" and index.isdigit() and int(index) < len(groups) and key:
            groups[int(index)][key] = value
        else:
            raise CheckpointError(f"optimizer checkpoint has an unknown tensor {name!r}")
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"optimizer state does not fit this model's parameters: {exc}") from None


def capture_rng() -> tuple[dict[str, torch.Tensor], dict]:
    """Python ``random``, numpy's global RNG, torch's CPU RNG and, when CUDA is
    initialised, every CUDA device's RNG, as tensors plus JSON."""
    version, internal, gauss_next = random.getstate()
    algorithm, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    tensors = {
        "numpy.keys": torch.from_numpy(np.ascontiguousarray(keys, dtype=np.uint32)),  # (624,) uint32
        "torch.cpu": torch.get_rng_state(),  # (5056,) uint8
    }
    cuda_devices = 0
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, rng_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch.cuda.{i}"] = rng_state.cpu()
            cuda_devices += 1
    meta = {
        "python": [version, list(internal), gauss_next],
        "numpy": {"algorithm": algorithm, "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached_gaussian)},
        "cuda_devices": cuda_devices,
    }
    return tensors, meta


def restore_rng(tensors: Mapping[str, torch.Tensor], meta: dict) -> None:
    """Inverse of :func:`capture_rng`. CUDA states are restored for the devices present;
    they are skipped when resuming without CUDA."""
    try:
        version, internal, gauss_next = meta["python"]
        random.setstate((version, tuple(internal), gauss_next))
        numpy_meta = meta["numpy"]
        np.random.set_state((numpy_meta["algorithm"], tensors["numpy.keys"].numpy().astype(np.uint32),
                             numpy_meta["pos"], numpy_meta["has_gauss"], numpy_meta["cached_gaussian"]))
        torch.set_rng_state(tensors["torch.cpu"].to(torch.uint8).contiguous())
        saved = [tensors[f"torch.cuda.{i}"] for i in range(meta.get("cuda_devices", 0))]
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint RNG state is unusable: {describe_error(exc)}") from None
    if saved and torch.cuda.is_available():
        for i, rng_state in enumerate(saved[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(rng_state.to(torch.uint8).contiguous(), device=i)


def restore_latest(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler,
                   tokenizer_fingerprint: str, message) -> Checkpoint:
    """Resume's common part: load the newest good checkpoint into ``model``, ``optimizer``,
    the RNGs and ``scaler``, after checking it was made with this tokenizer.

    ``message`` receives one line per newer checkpoint skipped as corrupt. The trainer
    restores what is its own (carried state, counters) from the returned checkpoint.
    """
    found, notes = load_latest(run_dir)
    for note in notes:
        message(note)
    if found is None:
        raise RunError(f"no usable checkpoint in {run_dir}; start over with --overwrite")
    meta = found.meta
    if meta.get("tokenizer_fingerprint") != tokenizer_fingerprint:
        raise RunError(f"checkpoint {found.path.name} was made with another tokenizer")
    load_model_tensors(model, found.tensors("model"), meta["model_aliases"])
    optimizer_from_tensors(optimizer, found.tensors("optimizer"), meta["optimizer"])
    restore_rng(found.tensors("rng"), meta["rng"])
    if meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    return found


def _storage_id(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()
