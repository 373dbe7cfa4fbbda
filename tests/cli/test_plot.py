"""`textrnn plot`: a real PNG of several runs' curves, and clear errors."""

from __future__ import annotations

import sys

import pytest

from .helpers import TINY, assert_error, run_cli


def train_two(corpus, root):
    runs = []
    for name, lr in (("slow", "0.001"), ("fast", "0.01")):
        run = root / name
        result = run_cli("train", "lm", corpus, "--out", run, "--max-steps", "8", "--eval-every", "4",
                         "--log-every", "2", "--lr", lr, *TINY)
        assert result.exit_code == 0, result.stderr
        runs.append(run)
    return runs


def test_plot_two_runs_writes_a_real_png(small_corpus, tmp_path):
    np = pytest.importorskip("numpy")
    image = pytest.importorskip("matplotlib.image")
    runs = train_two(small_corpus, tmp_path)
    clf = tmp_path / "clf"
    assert run_cli("train", "classifier", "--out", clf, "--max-steps", "4", "--eval-every", "2",
                   "--embedding-dim", "8", "--hidden-size", "8", "--threads", "1").exit_code == 0

    out = tmp_path / "curves.png"
    result = run_cli("plot", *runs, clf, "-o", out, "--width", "6", "--height", "4", "--dpi", "50")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    pixels = image.imread(out)  # (H, W, 4) floats in [0, 1]
    assert pixels.shape[:2] == (200, 300)
    assert pixels[..., :3].var() > 0
    colours = np.unique((pixels[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) >= 8  # white, black text, grey grid and one colour per run at least

    # the default size, and other formats by suffix
    assert run_cli("plot", *runs, "-o", tmp_path / "big.png").exit_code == 0
    assert image.imread(tmp_path / "big.png").shape[:2] == (800, 1200)
    assert run_cli("plot", runs[0], "-o", tmp_path / "curves.svg").exit_code == 0
    assert (tmp_path / "curves.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_plot_errors(small_corpus, tmp_path, monkeypatch):
    assert_error(run_cli("plot", tmp_path / "nowhere", "-o", tmp_path / "x.png"), "no such run directory")
    runs = train_two(small_corpus, tmp_path)
    assert_error(run_cli("plot", *runs, "-o", tmp_path / "x.nope"), "x.nope", ".png")
    (runs[0] / "metrics.jsonl").write_text("", encoding="utf-8")
    assert_error(run_cli("plot", *runs, "-o", tmp_path / "x.png"), "no metrics yet")

    # matplotlib missing: one Error line that says what to install
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert_error(run_cli("plot", runs[1], "-o", tmp_path / "x.png"), "pip install matplotlib")


def test_legend_labels_tell_runs_apart(tmp_path):
    from textrnn.plotting import unique_labels

    assert unique_labels([tmp_path / "a", tmp_path / "b"]) == ["a", "b"]
    assert unique_labels([tmp_path / "x" / "run", tmp_path / "y" / "run"]) == ["x/run", "y/run"]
