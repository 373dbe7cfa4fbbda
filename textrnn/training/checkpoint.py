"""Crash-safe checkpoints made of safetensors and JSON, never pickle.

::

    RUN/checkpoints/step-00000100/
        model.safetensors      one file per entry of ``tensors`` (model, optimizer, rng, ...)
        optimizer.safetensors
        meta.json              the ``meta`` dict given to save_checkpoint
        manifest.json          written last: every file's size and sha256, plus a format version
    RUN/checkpoints/.tmp-step-00000100-<pid>/   a save in progress (or left by a crash)
    RUN/best.json          {"checkpoint": "step-00000100", **metric}

A save is written into a temporary sibling directory, every file and the directory
are fsynced, and only then is it renamed to its final name, so a crash leaves either
the whole checkpoint or nothing under ``step-*``. Loading verifies the manifest
(presence, size, sha256) and checks that each weights file really is safetensors
before parsing it: a pickle planted where a checkpoint file should be is refused and
never executed, with or without a manifest that matches it.

The helpers at the bottom turn a model, an optimizer and the random number
generators into ``(tensors, json)`` pairs, and back, bit for bit.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import safetensors.torch

from ..errors import CheckpointError, RunError
from ..faults import maybe_crash

CHECKPOINTS_DIR = "checkpoints"
BEST_FILE = "best.json"
MANIFEST_FILE = "manifest.json"
META_FILE = "meta.json"
FORMAT = "textrnn-checkpoint"
FORMAT_VERSION = 1

_STEP_DIR = re.compile(r"step-(\d{8,})")
_ENTRY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# Leftovers of an interrupted save (.tmp-), swap (.old-) or prune (.del-); removed on the next save.
_LEFTOVER = re.compile(r"\.(tmp|old|del)-step-\d+-\d+")
_HASH_CHUNK = 1 << 20
# A safetensors header is JSON describing the tensors; real ones are kilobytes. The
# bound only stops a garbage length from making us read a huge "header".
_MAX_HEADER = 100 * 1024 * 1024


# --------------------------------------------------------------------------- the store


@dataclass
class Checkpoint:
    """A verified checkpoint directory.

    :param path: ``RUN/checkpoints/step-XXXXXXXX``.
    :param step: the training step it was saved at.
    :param meta: the JSON dict given to :func:`save_checkpoint`.
    :param files: the manifest's ``{file name: {"size", "sha256"}}``; :meth:`tensors`
        checks the bytes it parses against it.
    """

    path: Path
    step: int
    meta: dict
    files: dict = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        """Names of the tensor files it holds (``model``, ``optimizer``, ...)."""
        return sorted(f[: -len(".safetensors")] for f in self.files if f.endswith(".safetensors"))

    def tensors(self, name: str) -> dict[str, torch.Tensor]:
        """Load ``{name}.safetensors``, checking its bytes against the manifest again."""
        file_name = f"{name}.safetensors"
        entry = self.files.get(file_name)
        if entry is None:
            have = ", ".join(self.names) or "none"
            raise CheckpointError(f"checkpoint {self.path} has no {name!r} tensors (it has: {have})")
        path = self.path / file_name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CheckpointError(f"could not read {path}: {_reason(exc)}") from None
        head = data[: 8 + min(int.from_bytes(data[:8], "little"), _MAX_HEADER)] if len(data) >= 8 else data
        problem = _file_problem(file_name, head, len(data), entry, lambda: hashlib.sha256(data).hexdigest())
        if problem is not None:
            raise CheckpointError(f"checkpoint {self.path} is corrupt ({file_name}: {problem})")
        return _parse_safetensors(data, str(path))


def checkpoint_dir_name(step: int) -> str:
    """``step-00000100`` for step 100."""
    return f"step-{step:08d}"


def save_checkpoint(
    run_dir: Path,
    step: int,
    tensors: Mapping[str, Mapping[str, torch.Tensor]],
    meta: dict,
    keep_last: int | None = 3,
    protect: Iterable[str | os.PathLike] = (),
) -> Path:
    """Write ``RUN/checkpoints/step-{step:08d}`` atomically and prune old checkpoints.

    :param run_dir: the run directory; ``checkpoints/`` is created inside it.
    :param step: the training step (an int >= 0); names the directory.
    :param tensors: ``{name: {key: tensor}}``; each entry becomes ``{name}.safetensors``.
        Tensors must not share storage (use :func:`model_tensors` for a model).
    :param meta: JSON-serialisable dict, written as ``meta.json``.
    :param keep_last: after a successful save keep only the newest ``keep_last``
        checkpoints (``None`` keeps all). The one just written, those in ``protect``
        and the one named by ``best.json`` are never deleted.
    :param protect: checkpoint names or paths that pruning must keep.
    :returns: the final checkpoint directory.
    :raises CheckpointError: if anything fails while writing; the temporary directory
        is removed and every existing checkpoint is left as it was.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if keep_last is not None and keep_last < 1:
        raise ValueError(f"keep_last must be at least 1 (or None to keep all), got {keep_last!r}")
    for name in tensors:
        if not isinstance(name, str) or not _ENTRY_NAME.fullmatch(name):
            raise ValueError(f"tensor entry name {name!r} must be a plain file name (letters, digits, _ . -)")
    run_dir = Path(run_dir)
    checkpoints = run_dir / CHECKPOINTS_DIR
    final = checkpoints / checkpoint_dir_name(step)
    try:
        meta_bytes = _json_bytes(meta)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"could not write checkpoint {final}: meta is not JSON-serialisable: {exc}") from None

    try:
        created = not checkpoints.is_dir()
        checkpoints.mkdir(parents=True, exist_ok=True)
        if created:
            _fsync_dir(run_dir)
    except OSError as exc:
        raise CheckpointError(f"could not write checkpoint {final}: {_reason(exc)}") from None
    _remove_leftovers(checkpoints)

    tmp = checkpoints / f".tmp-{final.name}-{os.getpid()}"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        files: dict[str, dict[str, Any]] = {}
        for name, entry in tensors.items():
            data = safetensors.torch.save(dict(entry))
            files[f"{name}.safetensors"] = _write_bytes(tmp / f"{name}.safetensors", data)
            maybe_crash("mid-save", step)
        files[META_FILE] = _write_bytes(tmp / META_FILE, meta_bytes)
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "step": step, "files": files}
        _write_bytes(tmp / MANIFEST_FILE, _json_bytes(manifest))  # last: its presence means "complete"
        _fsync_dir(tmp)
        _move_into_place(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, Exception):
            raise CheckpointError(f"could not write checkpoint {final}: {_reason(exc)}") from exc
        raise
    try:
        _fsync_dir(checkpoints)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {final} was written but could not be made durable: {_reason(exc)}") from exc

    if keep_last is not None:
        _prune(run_dir, final, keep_last, protect)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoint directories of a run, oldest first (by step). Leftover temp dirs are ignored."""
    checkpoints = Path(run_dir) / CHECKPOINTS_DIR
    if not checkpoints.is_dir():
        return []
    found = []
    for child in checkpoints.iterdir():
        match = _STEP_DIR.fullmatch(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child.name, child))
    return [path for _, _, path in sorted(found)]


def verify_checkpoint(path: Path) -> None:
    """Check a checkpoint directory against its manifest.

    :raises CheckpointError: naming the file and what is wrong with it (missing,
        truncated, checksum mismatch, not safetensors, ...).
    """
    path = Path(path)
    try:
        _verify(path)
    except _Corrupt as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt ({exc.reason})") from None


def load_checkpoint(path: Path) -> Checkpoint:
    """Verify a checkpoint directory and return it."""
    path = Path(path)
    try:
        return _load(path)
    except _Corrupt as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt ({exc.reason})") from None


def load_latest(run_dir: Path) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint that verifies, and one message per newer one skipped.

    :returns: ``(checkpoint or None, messages)``; a message reads like
        ``checkpoint step-00000300 is corrupt (model.safetensors: checksum mismatch
        (bit flip or edit)); falling back to step-00000200``.
    """
    candidates = list_checkpoints(run_dir)[::-1]
    messages = []
    for i, path in enumerate(candidates):
        try:
            return _load(path), messages
        except _Corrupt as exc:
            after = f"falling back to {candidates[i + 1].name}" if i + 1 < len(candidates) else \
                "no older checkpoint to fall back to"
            messages.append(f"checkpoint {path.name} is corrupt ({exc.reason}); {after}")
    return None, messages


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


def mark_best(run_dir: Path, checkpoint: Path | str, metric: dict) -> None:
    """Atomically write ``RUN/best.json`` = ``{"checkpoint": "step-...", **metric}``.

    :param checkpoint: a checkpoint directory of this run (or its name).
    :param metric: JSON-serialisable numbers such as ``{"step": 300, "valid_loss": 1.42}``.
    """
    run_dir = Path(run_dir)
    name = Path(checkpoint).name
    if not _STEP_DIR.fullmatch(name) or not (run_dir / CHECKPOINTS_DIR / name).is_dir():
        raise CheckpointError(f"cannot mark {checkpoint} as best: it is not a checkpoint of {run_dir}")
    if "checkpoint" in metric:
        raise ValueError("metric must not have a 'checkpoint' key; it is set from the checkpoint argument")
    try:
        data = _json_bytes({"checkpoint": name, **metric})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"could not write {run_dir / BEST_FILE}: metric is not JSON-serialisable: "
                              f"{exc}") from None
    _replace_file(run_dir / BEST_FILE, data)


def best_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint named by ``best.json``, or None when there is none or it is gone.

    :raises CheckpointError: if ``best.json`` exists but is unreadable.
    """
    name = _best_name(Path(run_dir))
    if name is None:
        return None
    path = Path(run_dir) / CHECKPOINTS_DIR / name
    return path if path.is_dir() else None


# --------------------------------------------------------------------------- single files


def write_safetensors_atomic(path: Path, tensors: Mapping[str, torch.Tensor],
                             metadata: dict[str, str] | None = None) -> None:
    """Write one safetensors file via a temp file, fsync and ``os.replace``.

    :raises CheckpointError: if it cannot be written; an existing file is left as it was.
    """
    path = Path(path)
    try:
        data = safetensors.torch.save(dict(tensors), metadata=metadata)
    except Exception as exc:
        raise CheckpointError(f"could not write {path}: {_reason(exc)}") from exc
    _replace_file(path, data)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, refusing anything else (a pickle, a torch ``.pt`` zip, ...).

    :raises CheckpointError: if the file is missing, unreadable, or not safetensors.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"could not read {path}: {_reason(exc)}") from None
    return _parse_safetensors(data, str(path))


# --------------------------------------------------------------------------- model, optimizer, RNG


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
        _json_bytes(meta)
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
        raise CheckpointError(f"checkpoint RNG state is unusable: {_reason(exc)}") from None
    if saved and torch.cuda.is_available():
        for i, rng_state in enumerate(saved[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(rng_state.to(torch.uint8).contiguous(), device=i)


# --------------------------------------------------------------------------- internals


class _Corrupt(Exception):
    """A checkpoint failed verification; ``reason`` names the file and the fault."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _load(path: Path) -> Checkpoint:
    manifest = _verify(path)
    try:
        meta = json.loads((path / META_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise _Corrupt(f"{META_FILE}: unreadable: {_reason(exc)}") from None
    if not isinstance(meta, dict):
        raise _Corrupt(f"{META_FILE}: not a JSON object")
    return Checkpoint(path=path, step=manifest["step"], meta=meta, files=manifest["files"])


def _verify(path: Path) -> dict:
    """Check every file the manifest lists; returns the manifest or raises _Corrupt."""
    if not path.is_dir():
        raise _Corrupt("the directory is missing")
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_bytes())
    except FileNotFoundError:
        raise _Corrupt(f"{MANIFEST_FILE}: missing; the save never completed") from None
    except (OSError, ValueError) as exc:
        raise _Corrupt(f"{MANIFEST_FILE}: unreadable: {_reason(exc)}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _Corrupt(f"{MANIFEST_FILE}: not a textrnn checkpoint manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise _Corrupt(f"{MANIFEST_FILE}: format version {manifest.get('version')!r} is not one this "
                       f"textrnn reads ({FORMAT_VERSION})")
    files = manifest.get("files")
    step = manifest.get("step")
    match = _STEP_DIR.fullmatch(path.name)
    if not isinstance(files, dict) or META_FILE not in files or not isinstance(step, int):
        raise _Corrupt(f"{MANIFEST_FILE}: incomplete (no file list, {META_FILE} or step)")
    if match and int(match.group(1)) != step:
        raise _Corrupt(f"{MANIFEST_FILE}: says step {step}, the directory says {int(match.group(1))}")
    for name, entry in files.items():
        if not _ENTRY_NAME.fullmatch(name) or name == MANIFEST_FILE:
            raise _Corrupt(f"{MANIFEST_FILE}: lists {name!r}, which is not a file name a checkpoint holds")
        if not (isinstance(entry, dict) and isinstance(entry.get("size"), int)
                and isinstance(entry.get("sha256"), str)):
            raise _Corrupt(f"{MANIFEST_FILE}: the entry for {name} has no size or sha256")
        _verify_file(path / name, entry)
    return manifest


def _verify_file(path: Path, entry: dict) -> None:
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = _read_head(f) if path.suffix == ".safetensors" else b""

            def sha256() -> str:
                f.seek(0)
                digest = hashlib.sha256()
                while chunk := f.read(_HASH_CHUNK):
                    digest.update(chunk)
                return digest.hexdigest()

            problem = _file_problem(path.name, head, size, entry, sha256)
    except FileNotFoundError:
        raise _Corrupt(f"{path.name}: missing") from None
    except OSError as exc:
        raise _Corrupt(f"{path.name}: unreadable: {_reason(exc)}") from None
    if problem is not None:
        raise _Corrupt(f"{path.name}: {problem}")


def _read_head(f) -> bytes:
    """The first 8 + N bytes of a file: a safetensors length prefix and header, if it is one."""
    prefix = f.read(8)
    header_len = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
    return prefix + f.read(min(header_len, _MAX_HEADER))


def _file_problem(name: str, head: bytes, size: int, entry: dict, sha256) -> str | None:
    """What is wrong with one checkpoint file, the most telling fault first, or None.

    :param head: the file's first 8 + N bytes (empty for files that are not safetensors).
    :param sha256: returns the file's hex digest; called only when the size is right.
    """
    header = _header_problem(head, size) if name.endswith(".safetensors") else None
    header_len = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    truncated_safetensors = head[8:9] == b"{" and 8 + header_len <= entry["size"]
    if header is not None and not truncated_safetensors:
        return header  # a pickle or other foreign file: say so, not merely "wrong size"
    if size != entry["size"]:
        return _size_problem(size, entry["size"])
    if sha256() != entry["sha256"]:
        return "checksum mismatch (bit flip or edit)"
    return header


def _size_problem(size: int, expected: int) -> str:
    if size < expected:
        return f"truncated ({size} of {expected} bytes)"
    return f"wrong size ({size} bytes, the manifest says {expected})"


def _header_problem(head: bytes, file_size: int) -> str | None:
    """Why ``head`` (the first 8 + N bytes of a file) is not a safetensors header, or None.

    safetensors starts with N as a little-endian u64, then N bytes of JSON (an object).
    """
    what = "not a safetensors file"
    if head[:2] == b"PK":
        what += " (it is a zip archive, as torch.save writes)"
    elif head[:1] == b"\x80":
        what += " (it is a pickle)"
    refusal = f"{what}; textrnn never unpickles checkpoints"
    if len(head) < 8:
        return refusal
    header_len = int.from_bytes(head[:8], "little")
    if header_len < 2 or header_len > _MAX_HEADER or 8 + header_len > file_size or len(head) < 8 + header_len:
        return refusal
    header = head[8: 8 + header_len]
    if header[:1] != b"{":
        return refusal
    try:
        parsed = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return refusal
    return None if isinstance(parsed, dict) else refusal


def _parse_safetensors(data: bytes, label: str) -> dict[str, torch.Tensor]:
    header_len = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    problem = _header_problem(data[: 8 + min(header_len, _MAX_HEADER)], len(data))
    if problem is not None:
        raise CheckpointError(f"{label} is {problem}")
    try:
        return safetensors.torch.load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError for damaged files
        raise CheckpointError(f"{label} is a damaged safetensors file: {exc}") from None


def _best_name(run_dir: Path) -> str | None:
    path = run_dir / BEST_FILE
    try:
        best = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is unreadable: {_reason(exc)}") from None
    name = best.get("checkpoint") if isinstance(best, dict) else None
    if not isinstance(name, str) or not _STEP_DIR.fullmatch(name):
        raise CheckpointError(f"{path} does not name a checkpoint (expected \"checkpoint\": \"step-...\")")
    return name


def _prune(run_dir: Path, saved: Path, keep_last: int, protect: Iterable[str | os.PathLike]) -> None:
    """Delete old checkpoints beyond the newest ``keep_last``; best effort, never raises."""
    keep = {saved.name, *(Path(p).name for p in protect)}
    try:
        best = _best_name(run_dir)
    except CheckpointError:
        return  # an unreadable best.json: delete nothing rather than maybe the best weights
    if best is not None:
        keep.add(best)
    existing = list_checkpoints(run_dir)
    keep.update(path.name for path in existing[-keep_last:])
    for path in existing:
        if path.name not in keep:
            # Rename first, so a crash mid-delete never leaves a torn step-* directory.
            doomed = path.with_name(f".del-{path.name}-{os.getpid()}")
            try:
                os.rename(path, doomed)
            except OSError:
                continue
            shutil.rmtree(doomed, ignore_errors=True)


def _remove_leftovers(checkpoints: Path) -> None:
    for child in checkpoints.iterdir():
        if _LEFTOVER.fullmatch(child.name):
            shutil.rmtree(child, ignore_errors=True)


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename the complete ``tmp`` to ``final``; an existing ``final`` is swapped out, never torn."""
    if not final.exists():
        os.rename(tmp, final)
        return
    aside = final.with_name(f".old-{final.name}-{os.getpid()}")
    if aside.exists():
        shutil.rmtree(aside)
    os.rename(final, aside)
    try:
        os.rename(tmp, final)
    except BaseException:
        os.rename(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _write_bytes(path: Path, data: bytes) -> dict[str, Any]:
    """Write a new file and fsync it; returns its manifest entry."""
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _replace_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (temp file, fsync, os.replace, fsync dir)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)
        _write_bytes(tmp, data)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"could not write {path}: {_reason(exc)}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory to fsync it
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _storage_id(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "no space left on device"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__
