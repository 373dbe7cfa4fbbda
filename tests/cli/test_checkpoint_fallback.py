"""Every command that loads a run says so when it skips a corrupt checkpoint, as training does:
"checkpoint step-N is corrupt (...); falling back to step-M"."""

from __future__ import annotations

import pytest

import textrnn
from textrnn.errors import CheckpointFallbackWarning

from .helpers import TINY, run_cli

NEWEST, OLDER = "step-00000004", "step-00000002"
SKIPPED = f"checkpoint {NEWEST} is corrupt (model.safetensors: checksum mismatch"


@pytest.fixture(scope="module")
def damaged_run(tmp_path_factory):
    """A run with checkpoints at steps 2 and 4, the newest with one flipped byte."""
    from tests.conftest import english_like

    root = tmp_path_factory.mktemp("fallback")
    corpus = root / "corpus.txt"
    corpus.write_text(english_like(20_000), encoding="utf-8")
    run = root / "run"
    result = run_cli("train", "lm", corpus, "--out", run, "--max-steps", "4", "--eval-every", "2", *TINY)
    assert result.exit_code == 0, result.stderr
    weights = run / "checkpoints" / NEWEST / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # a bit flip in the last weight: the header still parses, the checksum does not
    weights.write_bytes(bytes(data))
    return run, corpus


@pytest.mark.parametrize("command", [
    ["evaluate", "{run}", "--weights", "last"],
    ["generate", "{run}", "--weights", "last", "--max-tokens", "5", "--seed", "1"],
    ["score", "{run}", "--weights", "last", "--text", "hello there"],
    ["export", "{run}", "--weights", "last", "--format", "safetensors", "--out", "{tmp}/exported"],
])
def test_the_cli_says_which_checkpoint_it_skipped(damaged_run, command, tmp_path):
    run, _ = damaged_run
    result = run_cli(*[part.format(run=run, tmp=tmp_path) for part in command])
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1 and SKIPPED in warnings[0], result.stderr
    assert warnings[0].endswith(f"; falling back to {OLDER}")


def test_a_corrupt_best_checkpoint_falls_back_with_a_warning(damaged_run):
    from textrnn.training import checkpoint as ckpt

    run, _ = damaged_run
    ckpt.mark_best(run, NEWEST, {"step": 4})  # best.json names the damaged one
    result = run_cli("evaluate", run, "--json")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 1, result.stderr  # said once, though both the best and the newest are step 4
    assert "best checkpoint" in warnings[0] and f"{NEWEST} is corrupt (model.safetensors: checksum" in warnings[0]
    assert warnings[0].endswith(f"falling back to the newest good checkpoint, {OLDER}")


def test_textrnn_load_warns_and_keeps_the_note(damaged_run):
    run, _ = damaged_run
    with pytest.warns(CheckpointFallbackWarning, match=f"{NEWEST} is corrupt .*; falling back to {OLDER}"):
        loaded = textrnn.load(run, weights="last")
    assert loaded.checkpoint.step == 2
    assert len(loaded.fallback_notes) == 1 and loaded.fallback_notes[0].startswith(SKIPPED)
