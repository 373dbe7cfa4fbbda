"""Checkpoints made of safetensors and JSON, never pickle.

- :mod:`.store`  the crash-safe store: atomic save, manifest and checksums, verified
  load, newest-good fallback, best marker, pruning.
- :mod:`.state`  what it stores: model, optimizer and RNG state as tensors plus JSON,
  and resume's common restore.
- :mod:`.files`  one safetensors file, written atomically and refused if it is not one.

``from textrnn.training import checkpoint as ckpt`` then ``ckpt.save_checkpoint(...)``:
every public name is re-exported here.
"""

from .files import read_safetensors, write_safetensors_atomic
from .state import (
    capture_rng,
    load_model_tensors,
    model_tensors,
    optimizer_from_tensors,
    optimizer_to_tensors,
    restore_latest,
    restore_rng,
)
from .store import (
    BEST_FILE,
    CHECKPOINTS_DIR,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_FILE,
    META_FILE,
    Checkpoint,
    best_checkpoint,
    checkpoint_dir_name,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    mark_best,
    save_checkpoint,
    verify_checkpoint,
)

__all__ = [
    "BEST_FILE", "CHECKPOINTS_DIR", "FORMAT", "FORMAT_VERSION", "MANIFEST_FILE", "META_FILE", "Checkpoint",
    "best_checkpoint", "capture_rng", "checkpoint_dir_name", "list_checkpoints", "load_checkpoint", "load_latest",
    "load_model_tensors", "mark_best", "model_tensors", "optimizer_from_tensors", "optimizer_to_tensors",
    "read_safetensors", "restore_latest", "restore_rng", "save_checkpoint", "verify_checkpoint",
    "write_safetensors_atomic",
]
