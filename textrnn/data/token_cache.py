"""The token cache: a corpus encoded once, stored as flat id files that training memory-maps.

Layout of the cache directory (``--cache-dir``; default ``$TEXTRNN_CACHE_DIR``, else
``$XDG_CACHE_HOME/textrnn/tokens``, else ``~/.cache/textrnn/tokens``)::

    tokens-<key>/      train.bin, valid.bin (raw little-endian uint16, or uint32 when the
                       vocabulary has more than 65,535 ids) and meta.json (counts, dtype,
                       character counts, tokenizer fingerprint, corpus provenance)
    tokenizer-<key>/   a trained tokenizer, as save_tokenizer writes it
    fingerprints/      remembered sha256 of files (see FileHashes)

Keys are sha256 over JSON (:func:`cache_key`):

* the **data key**: the content fingerprint of the corpus (and of the ``--valid`` file),
  plus how it is split and decoded (``valid_fraction``, ``encoding_errors``);
* ``tokenizer-<key>``: data key + tokenizer name + its options + textrnn's version, so a
  second run on the same corpus skips tokenizer training;
* ``tokens-<key>``: data key + the tokenizer's own fingerprint (its vocabulary or model
  bytes), so any other tokenizer, trained or loaded, gets its own entry.

Every entry is written into a temporary directory beside it and renamed into place, so
a reader sees a complete entry or none; a crashed writer leaves only a ``.tmp-*``
directory (removed once it is a day old). Two runs racing to write the same entry both succeed (the second rename
loses and its copy is deleted). An entry that fails its checks (sizes, fingerprint) is
ignored and rewritten. Delete the directory to clear the cache.

Content fingerprints hash every byte of every file (sha256, about 0.6 GB/s here), so
any change to a file invalidates. To keep a second run on a large corpus quick,
:class:`FileHashes` remembers a file's hash against its (size, mtime_ns, inode), and
only for files last modified more than two seconds before they were hashed (a file
written during hashing, or twice within one mtime tick, is always re-read: git's
"racy clean" rule). A file changed without any change to its size, mtime or inode
would be missed; no editor or build tool does that.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import atomic_write
from ..errors import ConfigError

CACHE_FORMAT = 1
RACY_SECONDS = 2.0
HASH_BYTES = 1 << 20  # bytes read at a time while hashing
STALE_TMP_SECONDS = 24 * 3600  # a .tmp-* entry this old belongs to a writer that died
TRAIN_FILE, VALID_FILE, META_FILE = "train.bin", "valid.bin", "meta.json"


def default_cache_dir() -> Path:
    env = os.environ.get("TEXTRNN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "textrnn" / "tokens"


def cache_key(**parts) -> str:
    return hashlib.sha256(json.dumps({"cache_format": CACHE_FORMAT, **parts}, sort_keys=True,
                                     default=str).encode()).hexdigest()


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 65535 else np.dtype("<u4")


class FileHashes:
    """sha256 of files, remembered in ``directory`` against (size, mtime_ns, inode)."""

    def __init__(self, directory: Path | None):
        self.directory = directory

    def __call__(self, path: Path) -> str:
        path = Path(path).resolve()
        try:
            st = path.stat()
        except OSError as exc:
            from ..errors import CorpusError

            raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
        stamp = {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}
        memo = self.directory / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json") \
            if self.directory else None
        if memo is not None:
            try:
                saved = json.loads(memo.read_text())
                if {k: saved.get(k) for k in stamp} == stamp:
                    return saved["sha256"]
            except (OSError, ValueError, KeyError):
                pass
        started = time.time()
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(HASH_BYTES):
                h.update(block)
        digest = h.hexdigest()
        if memo is not None and started - st.st_mtime_ns / 1e9 > RACY_SECONDS:
            try:
                atomic_write(memo, json.dumps({**stamp, "sha256": digest}), durable=False)  # a lost memo is recomputed
            except OSError:
                pass  # a read-only cache still works, it just hashes every time
        return digest


@dataclass
class CachedTokens:
    """An entry's ids, memory-mapped, and what meta.json says about them."""

    train: np.ndarray
    valid: np.ndarray
    meta: dict
    path: Path


class TokenCache:
    """Entries under one cache directory; see the module docstring."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root else default_cache_dir()

    def ensure(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / "fingerprints").mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the token cache {self.root} ({exc.strerror}); "
                              f"pass --cache-dir DIR or set TEXTRNN_CACHE_DIR") from None
        if not os.access(self.root, os.W_OK):
            raise ConfigError(f"cannot write to the token cache {self.root}; "
                              f"pass --cache-dir DIR or set TEXTRNN_CACHE_DIR")
        for tmp in self.root.glob(".tmp-*"):  # left by a writer that was killed a while ago
            try:
                if time.time() - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                    shutil.rmtree(tmp, ignore_errors=True)
            except OSError:
                pass

    def file_hashes(self) -> FileHashes:
        return FileHashes(self.root / "fingerprints")

    # -- tokenizers --------------------------------------------------------------------
    def tokenizer_dir(self, key: str) -> Path:
        return self.root / f"tokenizer-{key}"

    def load_tokenizer(self, key: str):
        """The cached tokenizer for ``key``, or None (a corrupt entry is removed)."""
        from ..errors import TextrnnError
        from ..tokenizers import load_tokenizer

        path = self.tokenizer_dir(key)
        if not path.is_dir():
            return None
        try:
            return load_tokenizer(path)
        except TextrnnError:
            shutil.rmtree(path, ignore_errors=True)
            return None

    def store_tokenizer(self, key: str, tokenizer) -> Path:
        from ..tokenizers import save_tokenizer

        with self.new_entry(self.tokenizer_dir(key)) as tmp:
            save_tokenizer(tokenizer, tmp)
        return self.tokenizer_dir(key)

    # -- token ids ---------------------------------------------------------------------
    def tokens_dir(self, key: str) -> Path:
        return self.root / f"tokens-{key}"

    def load_tokens(self, key: str, tokenizer_fingerprint: str) -> CachedTokens | None:
        """Memory-mapped ids for ``key``, or None when absent or failing its checks."""
        path = self.tokens_dir(key)
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
            dtype = np.dtype(meta["dtype"])
            arrays = []
            for name, count in ((TRAIN_FILE, meta["train_tokens"]), (VALID_FILE, meta["valid_tokens"])):
                if (path / name).stat().st_size != count * dtype.itemsize:
                    raise ValueError(f"{name} has the wrong size")
                arrays.append(open_ids(path / name, dtype, count))
            if meta.get("tokenizer_fingerprint") != tokenizer_fingerprint or meta.get("format") != CACHE_FORMAT:
                raise ValueError("stale entry")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(path, ignore_errors=True)
            return None
        return CachedTokens(arrays[0], arrays[1], meta, path)

    def new_entry(self, final: Path) -> "_Entry":
        return _Entry(self.root, final)


class _Entry:
    """``with cache.new_entry(path) as tmp:`` write into ``tmp``; on success it becomes ``path``."""

    def __init__(self, root: Path, final: Path):
        self.final = final
        self.tmp = root / f".tmp-{uuid.uuid4().hex}"

    def __enter__(self) -> Path:
        self.tmp.mkdir(parents=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        try:
            os.rename(self.tmp, self.final)  # corrupt entries were removed when they failed their checks
        except OSError:  # another process put the same entry in place first: keep theirs
            shutil.rmtree(self.tmp, ignore_errors=True)


def open_ids(path: Path, dtype: np.dtype, count: int) -> np.ndarray:
    """A read-only memory map of ``count`` ids (an empty array for an empty file)."""
    if count == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(count,))


def write_meta(directory: Path, meta: dict) -> None:
    (directory / META_FILE).write_text(json.dumps({"format": CACHE_FORMAT, "textrnn_version": __version__, **meta},
                                                  indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


