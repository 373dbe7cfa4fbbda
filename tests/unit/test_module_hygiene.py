"""Module hygiene that code review alone lets slip: one atomic writer, and a checkpoint
package whose store does not depend on what it stores, in short functions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import textrnn

ROOT = Path(textrnn.__file__).resolve().parent
CHECKPOINT = ROOT / "training" / "checkpoint"
# Calls that make a write atomic or durable; outside textrnn/atomic.py they mean a second writer.
ATOMIC_CALLS = re.compile(r"\bos\.(replace|fsync)\(|\bmkstemp\(|\bNamedTemporaryFile\(")


def python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def test_only_textrnn_atomic_replaces_or_fsyncs_files():
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in python_files(ROOT) if p.name != "atomic.py"
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if ATOMIC_CALLS.search(line.split("#")[0]) and not line.lstrip().startswith(('"', "'"))]
    assert offenders == [], "write through textrnn.atomic instead: " + ", ".join(offenders)


def test_no_checkpoint_function_is_over_80_lines():
    long = [f"{p.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)" for p in python_files(CHECKPOINT)
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80]
    assert long == []


def test_the_store_does_not_import_the_state_it_stores():
    source = (CHECKPOINT / "store.py").read_text(encoding="utf-8")
    assert not re.search(r"^from \.state import|^from \. import state", source, re.M)


def test_every_public_checkpoint_name_is_re_exported():
    """``ckpt.save_checkpoint(...)`` and friends keep working for every caller."""
    from textrnn.training import checkpoint as ckpt
    from textrnn.training.checkpoint import files, state, store

    for module in (state, store):  # files.py's other helpers serve the package only
        public = {name for name, value in vars(module).items() if not name.startswith("_")
                  and callable(value) and getattr(value, "__module__", "") == module.__name__}
        assert public <= set(ckpt.__all__), (module.__name__, public - set(ckpt.__all__))
        assert all(getattr(ckpt, name) is getattr(module, name) for name in public)
    assert ckpt.read_safetensors is files.read_safetensors
    assert ckpt.write_safetensors_atomic is files.write_safetensors_atomic
