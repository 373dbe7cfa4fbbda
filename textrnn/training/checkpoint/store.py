"""The crash-safe checkpoint store: atomic saves, manifests with checksums, verified loads.

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
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from ...atomic import fsync_dir, json_bytes, move_dir_into_place, write_new
from ...errors import CheckpointError
from ...faults import maybe_crash
from .files import MAX_HEADER, describe_error, header_problem, parse_safetensors, read_head, replace_file

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
            raise CheckpointError(f"could not read {path}: {describe_error(exc)}") from None
        head = data[: 8 + min(int.from_bytes(data[:8], "little"), MAX_HEADER)] if len(data) >= 8 else data
        problem = _file_problem(file_name, head, len(data), entry, lambda: hashlib.sha256(data).hexdigest())
        if problem is not None:
            raise CheckpointError(f"checkpoint {self.path} is corrupt ({file_name}: {problem})")
        return parse_safetensors(data, str(path))


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
    _check_save_arguments(step, tensors, keep_last)
    run_dir = Path(run_dir)
    checkpoints = run_dir / CHECKPOINTS_DIR
    final = checkpoints / checkpoint_dir_name(step)
    try:
        meta_bytes = json_bytes(meta)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"could not write checkpoint {final}: meta is not JSON-serialisable: {exc}") from None

    try:
        created = not checkpoints.is_dir()
        checkpoints.mkdir(parents=True, exist_ok=True)
        if created:
            fsync_dir(run_dir)
    except OSError as exc:
        raise CheckpointError(f"could not write checkpoint {final}: {describe_error(exc)}") from None
    _remove_leftovers(checkpoints)

    tmp = checkpoints / f".tmp-{final.name}-{os.getpid()}"
    try:
        _write_checkpoint_dir(tmp, step, tensors, meta_bytes)
        move_dir_into_place(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, Exception):
            raise CheckpointError(f"could not write checkpoint {final}: {describe_error(exc)}") from exc
        raise
    try:
        fsync_dir(checkpoints)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {final} was written but could not be made durable: {describe_error(exc)}") from exc

    if keep_last is not None:
        _prune(run_dir, final, keep_last, protect)
    return final


def _check_save_arguments(step: int, tensors: Mapping[str, Any], keep_last: int | None) -> None:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if keep_last is not None and keep_last < 1:
        raise ValueError(f"keep_last must be at least 1 (or None to keep all), got {keep_last!r}")
    for name in tensors:
        if not isinstance(name, str) or not _ENTRY_NAME.fullmatch(name):
            raise ValueError(f"tensor entry name {name!r} must be a plain file name (letters, digits, _ . -)")


def _write_checkpoint_dir(tmp: Path, step: int, tensors: Mapping[str, Mapping[str, torch.Tensor]],
                          meta_bytes: bytes) -> None:
    """Fill a fresh ``tmp`` with every file, the manifest last, and fsync it."""
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
    _write_bytes(tmp / MANIFEST_FILE, json_bytes(manifest))  # last: its presence means "complete"
    fsync_dir(tmp)


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
        data = json_bytes({"checkpoint": name, **metric})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"could not write {run_dir / BEST_FILE}: metric is not JSON-serialisable: "
                              f"{exc}") from None
    replace_file(run_dir / BEST_FILE, data)


def best_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint named by ``best.json``, or None when there is none or it is gone.

    :raises CheckpointError: if ``best.json`` exists but is unreadable.
    """
    name = _best_name(Path(run_dir))
    if name is None:
        return None
    path = Path(run_dir) / CHECKPOINTS_DIR / name
    return path if path.is_dir() else None


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
        raise _Corrupt(f"{META_FILE}: unreadable: {describe_error(exc)}") from None
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
        raise _Corrupt(f"{MANIFEST_FILE}: unreadable: {describe_error(exc)}") from None
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
            head = read_head(f) if path.suffix == ".safetensors" else b""

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
        raise _Corrupt(f"{path.name}: unreadable: {describe_error(exc)}") from None
    if problem is not None:
        raise _Corrupt(f"{path.name}: {problem}")


def _file_problem(name: str, head: bytes, size: int, entry: dict, sha256) -> str | None:
    """What is wrong with one checkpoint file, the most telling fault first, or None.

    :param head: the file's first 8 + N bytes (empty for files that are not safetensors).
    :param sha256: returns the file's hex digest; called only when the size is right.
    """
    header = header_problem(head, size) if name.endswith(".safetensors") else None
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


def _best_name(run_dir: Path) -> str | None:
    path = run_dir / BEST_FILE
    try:
        best = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is unreadable: {describe_error(exc)}") from None
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


def _write_bytes(path: Path, data: bytes) -> dict[str, Any]:
    """Write a new file and fsync it; returns its manifest entry."""
    write_new(path, data)
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
