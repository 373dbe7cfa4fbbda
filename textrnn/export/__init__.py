"""``textrnn export``: a trained run as plain safetensors weights or as ONNX graphs.

``export_run(run_dir, "safetensors" | "onnx", out_dir)`` writes into ``out_dir``:

* ``config.json``: the architecture (:mod:`.layout`), the tokenizer entry, labels for a
  classifier, and which files hold what;
* ``tokenizer/`` and, for char and word tokenizers, ``vocab.json`` (:mod:`.tokenizer_files`);
* ``model.safetensors`` (every tensor under its module name, tied weights written out twice
  so that no tensor aliases another), or ``step.onnx`` + ``sequence.onnx`` for a language
  model and ``classifier.onnx`` for a classifier (:mod:`.onnx_graphs`).

docs/export.md shows how to load each with plain torch or onnxruntime.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from .layout import ExportError, describe

FORMATS = ("safetensors", "onnx")
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1

__all__ = ["ExportError", "FORMATS", "export_run"]


def export_run(run_dir, fmt: str, out_dir, weights: str = "best", overwrite: bool = False) -> dict[str, Any]:
    """Export the run in ``run_dir`` as ``fmt`` into ``out_dir``; returns the config written.

    :param fmt: "safetensors" or "onnx".
    :param weights: "best" or "last" checkpoint.
    :param overwrite: allow an ``out_dir`` that already holds files (those of an export are replaced).
    :raises ExportError: unknown format, a model without a known layout, onnx not installed,
        or an ``out_dir`` that is not empty.
    :raises RunError: a missing or corrupt run.
    """
    from ..api import load_run
    from ..training import run_dir as rd

    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose {' or '.join(FORMATS)}")
    if fmt == "onnx" and importlib.util.find_spec("onnx") is None:
        raise ExportError('ONNX export needs the onnx package: pip install "textrnn[export]"')
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    run = load_run(run_dir, device="cpu", weights=weights)
    architecture = describe(run.model, run.task, run.meta["model"])  # refuses before anything is written
    _prepare(out_dir, overwrite)
    config = {
        "format": "textrnn-export", "format_version": FORMAT_VERSION, "exported_as": fmt,
        "task": run.task, "model": run.meta["model"], "plugin": run.meta.get("plugin"),
        "textrnn_version": _version(), "checkpoint_step": run.checkpoint.step,
        "architecture": architecture,
    }
    if run.task == "classifier":
        config["labels"] = list(run.meta["labels"])
        config["max_length"] = run.meta.get("max_length", 1000)  # longer texts are cut to this many tokens
    from .tokenizer_files import write_tokenizer

    config["tokenizer"] = write_tokenizer(run.tokenizer, run_dir / rd.TOKENIZER_DIR, out_dir)
    if fmt == "safetensors":
        _write_weights(run.model, out_dir / WEIGHTS_FILE)
        config["weights"] = WEIGHTS_FILE
    else:
        from . import onnx_graphs

        write = onnx_graphs.export_lm if run.task == "lm" else onnx_graphs.export_classifier
        config["onnx"] = {"opset": onnx_graphs.OPSET, "graphs": write(run.model, out_dir)}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return config


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} exists and is not a directory")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ExportError(f"{out_dir} exists and is not empty; choose a new --out or pass --overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)


def _write_weights(model, path: Path) -> None:
    """Every tensor of ``model.state_dict()`` as its own contiguous copy: a tied decoder weight
    is written out in full rather than recorded as an alias, so plain ``load_state_dict`` works."""
    from safetensors.torch import save_file

    tensors = {name: t.detach().to("cpu").clone().contiguous() for name, t in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"format": "textrnn-export"})


def _version() -> str:
    from .. import __version__

    return __version__
