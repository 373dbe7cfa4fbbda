"""The compiled CPU step (``native_step.c``): built on first use, loaded through ctypes.

:func:`library` compiles ``native_step.c`` with the system C compiler (about 0.3 s) into
:func:`cache_dir`, once per source, compiler and machine, and links it to the BLAS
``sgemv_`` that PyTorch exports. Where any of that is missing (no compiler, a torch build
without that symbol, a read-only cache) it returns ``None`` and textrnn keeps its PyTorch
step; :func:`unavailable_reason` says why. ``TEXTRNN_NATIVE=0`` turns the compiled step off.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import torch

from .atomic import atomic_path

SOURCE = Path(__file__).with_name("native_step.c")
# -fno-trapping-math lets gcc and clang vectorize the branch-free exp; no -ffast-math, so
# inf and NaN keep their meaning (-inf logits forbid tokens).
FLAGS = ["-O3", "-fno-trapping-math", "-shared", "-fPIC"]
COMPILE_TIMEOUT_S = 120
CELLS = {"rnn_tanh": 0, "rnn_relu": 1, "lstm": 2, "gru": 3}

_reason: str | None = None

_float_p = ctypes.POINTER(ctypes.c_float)


class RecurrentModel(ctypes.Structure):
    """``struct recurrent_model`` of native_step.c; see there for each field."""

    _fields_ = [
        ("sgemv", ctypes.c_void_p),
        ("cell", ctypes.c_int32), ("layers", ctypes.c_int32), ("hidden", ctypes.c_int32),
        ("vocab", ctypes.c_int32), ("embedding_dim", ctypes.c_int32),
        ("table", ctypes.c_void_p), ("embedding", ctypes.c_void_p),
        ("input_weight", ctypes.c_void_p), ("hidden_weight", ctypes.c_void_p),
        ("bias", ctypes.c_void_p), ("hidden_bias", ctypes.c_void_p),
        ("decoder_weight", ctypes.c_void_p), ("decoder_bias", ctypes.c_void_p),
        ("h", ctypes.c_void_p), ("c", ctypes.c_void_p),
        ("gates", ctypes.c_void_p), ("hidden_gates", ctypes.c_void_p),
        ("logits", ctypes.c_void_p), ("cdf", ctypes.c_void_p), ("ranked", ctypes.c_void_p),
    ]


class Choice(ctypes.Structure):
    """``struct choice`` of native_step.c: how each next token is chosen."""

    _fields_ = [
        ("bias", ctypes.c_void_p), ("seen", ctypes.c_void_p),
        ("temperature", ctypes.c_float), ("top_p", ctypes.c_float), ("repetition_penalty", ctypes.c_float),
        ("top_k", ctypes.c_int32), ("greedy", ctypes.c_int32),
    ]


def unavailable_reason() -> str | None:
    """Why :func:`library` returned ``None`` (``None`` when it did not, or was not called)."""
    return _reason


@functools.lru_cache(maxsize=None)
def library() -> ctypes.CDLL | None:
    """The compiled step, with ``library().sgemv`` the BLAS routine to hand it; or ``None``."""
    global _reason
    if os.environ.get("TEXTRNN_NATIVE", "1") == "0":
        _reason = "TEXTRNN_NATIVE=0"
        return None
    try:
        sgemv = _torch_sgemv()
        lib = ctypes.CDLL(str(_compiled()))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        _reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None
    model_p = ctypes.POINTER(RecurrentModel)
    lib.textrnn_step.argtypes = [model_p, ctypes.c_int64]
    lib.textrnn_step.restype = ctypes.c_int32
    lib.textrnn_sample.argtypes = [model_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_void_p,
                                   ctypes.POINTER(Choice), ctypes.c_void_p]
    lib.textrnn_sample.restype = ctypes.c_int32
    lib.sgemv = sgemv
    if not _sgemv_works(lib):
        _reason = "torch's sgemv_ does not take 32-bit integers (an ILP64 BLAS)"
        return None
    return lib


def _torch_sgemv() -> int:
    """Address of the Fortran ``sgemv_`` that PyTorch's CPU library exports (MKL or OpenBLAS)."""
    lib_dir = Path(torch.__file__).parent / "lib"
    for path in sorted(lib_dir.glob("libtorch_cpu.*")):
        try:
            symbol = getattr(ctypes.CDLL(str(path)), "sgemv_")
        except (OSError, AttributeError):
            continue
        return ctypes.cast(symbol, ctypes.c_void_p).value
    raise RuntimeError(f"no sgemv_ exported by torch's CPU library in {lib_dir}")


def cache_dir() -> Path:
    """``$TEXTRNN_NATIVE_DIR``, else ``textrnn/native`` in ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    if os.environ.get("TEXTRNN_NATIVE_DIR"):
        return Path(os.environ["TEXTRNN_NATIVE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "textrnn" / "native"


def _compiled() -> Path:
    """Path of the shared library, compiling it first when this source, compiler and machine have none."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        raise RuntimeError("no C compiler (cc, gcc or clang) on PATH")
    source = SOURCE.read_bytes()
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256(b"\0".join([source, " ".join(FLAGS).encode(), version.encode(),
                                     platform.machine().encode(), platform.system().encode()])).hexdigest()[:16]
    target = cache_dir() / f"native_step-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target.parent)
    # Compile beside the target and rename: a concurrent process never loads half a file.
    with atomic_path(target, durable=False, suffix=".so") as temporary:
        done = subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", str(temporary)], capture_output=True,
                              text=True, timeout=COMPILE_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"{compiler} failed on {SOURCE.name}: {done.stderr.strip() or done.returncode}")
    return target


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete half-built libraries that a killed compile left; a live compile is younger than its timeout."""
    cutoff = time.time() - 2 * COMPILE_TIMEOUT_S
    for leftover in folder.glob(".*.so"):  # a hidden .so here is a temporary (atomic_path, or older .tmp-*.so)
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:  # another process removed it first, or the folder is read-only
            pass


def _sgemv_works(lib: ctypes.CDLL) -> bool:
    """One 2x3 product through the library: guards against a BLAS with 64-bit integers."""
    weight = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # (rows 2, cols 3), row-major
    model, keep = bind(cell="rnn_relu", layers=1, hidden=3, vocab=2, table=torch.zeros(2, 3),
                       input_weights=[None], hidden_weights=[torch.eye(3)], biases=[None], hidden_biases=[None],
                       decoder_weight=weight, decoder_bias=torch.zeros(2), h=torch.tensor([1.0, 1.0, 1.0]),
                       c=None, lib=lib)
    lib.textrnn_step(ctypes.byref(model), 0)
    return keep["logits"].tolist() == [6.0, 15.0]


def _pointer(tensor: torch.Tensor | None) -> int | None:
    if tensor is None:
        return None
    if tensor.dtype != torch.float32 or not tensor.is_contiguous() or tensor.device.type != "cpu":
        raise ValueError("the compiled step needs contiguous float32 CPU tensors")
    return tensor.data_ptr()


def bind(*, cell: str, layers: int, hidden: int, vocab: int, table, input_weights, hidden_weights, biases,
         hidden_biases, decoder_weight, decoder_bias, h, c, lib, embedding=None):
    """Fill a :class:`RecurrentModel` for ``lib``; returns it and a dict that keeps every
    tensor and pointer array alive (hold it as long as the struct). ``keep["logits"]`` is
    the (vocab,) logits buffer the step writes. ``h`` and ``c`` are (layers * hidden,)
    contiguous state buffers, updated in place."""
    gates = {"lstm": 4, "gru": 3}.get(cell, 1)
    keep = {"tensors": [table, embedding, *input_weights, *hidden_weights, *biases, *hidden_biases,
                        decoder_weight, decoder_bias, h, c],
            "gates": torch.empty(gates * hidden), "hidden_gates": torch.empty(gates * hidden),
            "logits": torch.empty(vocab), "cdf": torch.empty(vocab),
            "ranked": torch.empty(2 * vocab)}  # (value, index) pairs of 8 bytes

    def array(tensors):
        values = (ctypes.c_void_p * layers)(*[_pointer(t) for t in tensors])
        keep.setdefault("arrays", []).append(values)
        return ctypes.cast(values, ctypes.c_void_p).value

    model = RecurrentModel(
        sgemv=lib.sgemv, cell=CELLS[cell], layers=layers, hidden=hidden, vocab=vocab,
        embedding_dim=embedding.shape[1] if embedding is not None else 0,
        table=_pointer(table), embedding=_pointer(embedding),
        input_weight=array(input_weights), hidden_weight=array(hidden_weights),
        bias=array(biases), hidden_bias=array(hidden_biases),
        decoder_weight=_pointer(decoder_weight), decoder_bias=_pointer(decoder_bias),
        h=_pointer(h), c=_pointer(c),
        gates=_pointer(keep["gates"]), hidden_gates=_pointer(keep["hidden_gates"]),
        logits=_pointer(keep["logits"]), cdf=_pointer(keep["cdf"]), ranked=_pointer(keep["ranked"]),
    )
    return model, keep
