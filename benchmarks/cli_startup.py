"""Start-up time of `textrnn --help` and `textrnn models`: this checkout against a baseline ref.

The baseline is checked out into a temporary `git worktree`, and both trees run through the
same installed `textrnn` console script with PYTHONPATH set to the tree and its plugin
folders: the installed entry points name the same modules, so each run imports that tree's
code (the paths are printed to show it). Runs alternate between the two trees; the first
run of each writes bytecode caches and is not counted. Prints the median of --repeats runs
and the ratio current / baseline (above 1: slower than the baseline).

    python benchmarks/cli_startup.py [--baseline REF] [--repeats 5] [--json]

(benchmarks/startup_time.py measures something else: command start to the first training step.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {"--help": ["--help"], "models": ["models"]}
WHERE = "import textrnn, textrnn_recurrent; print(textrnn.__file__); print(textrnn_recurrent.__file__)"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def default_baseline() -> str:
    """The merge-base of HEAD with main (HEAD itself on main: pass --baseline there)."""
    return git("merge-base", "HEAD", "main")


def import_path(tree: Path) -> str:
    """The tree, plugins/ (the first-party plugins) and each plugin there with its own pyproject."""
    plugins = tree / "plugins"
    own = sorted(p for p in plugins.iterdir() if (p / "pyproject.toml").is_file())
    return os.pathsep.join(str(p) for p in [tree, plugins, *own])


def environment(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": import_path(tree), "OMP_NUM_THREADS": "1"}


def seconds(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(trees: dict[str, Path], script: str, repeats: int, cwd: str) -> dict[str, dict[str, float]]:
    """Median seconds per tree and command, the trees' runs alternating."""
    times: dict[str, dict[str, list[float]]] = {t: {c: [] for c in COMMANDS} for t in trees}
    for name, args in COMMANDS.items():
        for tree, path in trees.items():
            seconds([script, *args], environment(path), cwd)  # warm-up: bytecode caches, page cache
        for _ in range(repeats):
            for tree, path in trees.items():
                times[tree][name].append(seconds([script, *args], environment(path), cwd))
    return {t: {c: statistics.median(v) for c, v in per.items()} for t, per in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="git ref to compare with (default: merge-base of HEAD and main)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON line instead of text")
    args = parser.parse_args()
    script = shutil.which("textrnn", path=str(Path(sys.executable).parent)) or shutil.which("textrnn")
    if script is None:
        raise SystemExit("Error: no textrnn console script; pip install -e . first")
    ref = args.baseline or default_baseline()
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        git("worktree", "add", "--detach", str(base), commit)
        try:
            trees = {"current": REPO, "baseline": base}
            for tree, path in trees.items():
                where = subprocess.run([sys.executable, "-c", WHERE], env=environment(path), cwd=tmp, check=True,
                                       capture_output=True, text=True).stdout.split()
                if not all(Path(w).is_relative_to(path) for w in where):
                    raise SystemExit(f"Error: the {tree} run imports {where}, not {path}")
                if not args.json:
                    print(f"{tree}: {path} imports {', '.join(where)}")
            medians = measure(trees, script, args.repeats, tmp)
        finally:
            git("worktree", "remove", "--force", str(base))
    ratios = {c: medians["current"][c] / medians["baseline"][c] for c in COMMANDS}
    if args.json:
        print(json.dumps({"baseline": commit, "repeats": args.repeats, "median_s": medians, "ratio": ratios}))
        return
    print(f"baseline {ref} = {commit[:12]}; median of {args.repeats} runs each")
    for c in COMMANDS:
        print(f"textrnn {c:7s} current {medians['current'][c]:.3f} s  baseline {medians['baseline'][c]:.3f} s  "
              f"ratio {ratios[c]:.3f}")


if __name__ == "__main__":
    main()
