"""Write docs/cli.md, the CLI reference, from the ``--help`` of every command.

    python docs/make_cli_reference.py            # rewrite docs/cli.md
    python docs/make_cli_reference.py --check    # exit 1 if docs/cli.md is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

from textrnn.cli.reference import render

TARGET = Path(__file__).resolve().parent / "cli.md"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is stale: run python docs/make_cli_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
