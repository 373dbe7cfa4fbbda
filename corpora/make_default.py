"""Builds corpora/pydocs.txt, the embedded default corpus, from Python's own docstrings.

Every Python install carries this text, so the corpus needs no download and copies
nothing from the web. Run ``python corpora/make_default.py`` to rebuild it; the output
depends on the Python version, which is why the built file is committed.
"""

from __future__ import annotations

import importlib
import inspect
import io
import contextlib
import sys
import warnings
from pathlib import Path

SKIP = {"this", "antigravity", "idlelib", "tkinter", "turtle", "turtledemo", "__main__", "pydoc_data",
        "ensurepip", "venv", "lib2to3", "test", "idle", "msilib", "winreg", "winsound", "_msi"}
TARGET_CHARS = 1_000_000


def docstrings(module) -> list[str]:
    found = [inspect.getdoc(module) or ""]
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            found.append(inspect.getdoc(obj) or "")
            if inspect.isclass(obj):
                for attr, member in sorted(vars(obj).items()):
                    if not attr.startswith("_") and inspect.isfunction(member):
                        found.append(inspect.getdoc(member) or "")
    return found


def main() -> None:
    seen: set[str] = set()
    parts: list[str] = []
    total = 0
    for name in sorted(sys.stdlib_module_names):
        if name in SKIP or name.startswith("_"):
            continue
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                module = importlib.import_module(name)
        except Exception:
            continue
        for doc in docstrings(module):
            doc = doc.strip()
            if len(doc) < 80 or doc in seen or not doc.isascii():
                continue
            seen.add(doc)
            parts.append(doc + "\n\n")
            total += len(parts[-1])
        if total >= TARGET_CHARS:
            break
    out = Path(__file__).with_name("pydocs.txt")
    out.write_text("".join(parts), encoding="utf-8")
    print(f"wrote {out} ({total:,} chars from Python {sys.version.split()[0]} docstrings)")


if __name__ == "__main__":
    main()
