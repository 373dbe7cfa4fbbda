"""--gradual-unfreeze and --discriminative-lr (Howard & Ruder 2018), seen in the weights that the
run's checkpoints hold and in the learning rates their optimizer state records.

The bilstm's layer groups, bottom to top: the embedding, one group per recurrent layer, the head.
With 160 training texts in batches of 16 an epoch is 10 steps.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from .helpers import run_cli
from .test_classifier_cli import TINY, rows, write_tsv

LAYERS = 2
GROUPS = LAYERS + 2
DECAY = 2.6  # --lr-decay-per-layer's default
FIXED = ["--num-layers", str(LAYERS), "--lr", "0.01", "--warmup-steps", "0", "--schedule", "constant",
         "--ema", "0", "--token-dropout", "0", "--eval-every", "5", "--keep-last", "10", "--seed", "3"]


def group_of(name: str) -> int:
    """Layer group of a classifier weight, from its name in model.safetensors."""
    if name.startswith("embedding."):
        return 0
    if name.startswith("rnn."):
        return 1 + int(name.removesuffix("_reverse").rsplit("_l", 1)[1])
    return GROUPS - 1  # the head (and attention pooling, when there is one)


def weights(run, step: int) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / f"step-{step:08d}" / "model.safetensors")


def moved(run, start: int, end: int) -> list[float]:
    """Mean absolute change of each layer group's weights between two checkpoints."""
    before, after = weights(run, start), weights(run, end)
    sums, counts = [0.0] * GROUPS, [0] * GROUPS
    for name, tensor in after.items():
        group = group_of(name)
        sums[group] += float((tensor - before[name]).abs().sum())
        counts[group] += tensor.numel()
    assert all(counts), counts
    return [s / c for s, c in zip(sums, counts)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fine-tuning")
    return write_tsv(root / "train.tsv", rows(160, seed=1)), write_tsv(root / "valid.tsv", rows(40, seed=2))


def train(data, run, *extra):
    train_tsv, valid_tsv = data
    result = run_cli("train", "classifier", train_tsv, "--valid", valid_tsv, "--out", run, *TINY, *FIXED, *extra)
    assert result.exit_code == 0, (result.stderr, result.exception)
    return run


def test_gradual_unfreeze_trains_only_the_top_groups_of_each_epoch(data, tmp_path):
    run = train(data, tmp_path / "run", "--gradual-unfreeze", "--max-steps", "12")
    epoch0 = moved(run, 5, 10)  # steps 6-10: epoch 0 trains the head alone
    assert epoch0[:-1] == [0.0] * (GROUPS - 1) and epoch0[-1] > 0, epoch0
    epoch1 = moved(run, 10, 12)  # steps 11-12: epoch 1 adds the top recurrent layer
    assert epoch1[:-2] == [0.0] * (GROUPS - 2) and min(epoch1[-2:]) > 0, epoch1


def test_without_gradual_unfreeze_every_group_trains_from_the_start(data, tmp_path):
    run = train(data, tmp_path / "run", "--max-steps", "10")
    assert min(moved(run, 5, 10)) > 0  # the check above is not vacuous: these groups do move


def test_discriminative_lr_divides_each_lower_group_by_the_decay(data, tmp_path):
    plain = train(data, tmp_path / "plain", "--max-steps", "10")
    tiered = train(data, tmp_path / "tiered", "--discriminative-lr", "--max-steps", "10")
    # the optimizer state saved in the checkpoint: group g of G runs at lr / DECAY ** (G - 1 - g)
    meta = json.loads((tiered / "checkpoints" / "step-00000010" / "meta.json").read_text())
    lrs = [group["lr"] for group in meta["optimizer"]["param_groups"]]
    assert lrs == pytest.approx([0.01 / DECAY ** (GROUPS - 1 - g) for g in range(GROUPS)], rel=1e-9)
    # and in the weights: against the same run without it, the lower a group the less it moves
    # (Adam's steps scale with the rate: the embedding's is 2.6**-3, 0.06 of the head's)
    ratio = [t / p for t, p in zip(moved(tiered, 5, 10), moved(plain, 5, 10))]
    assert ratio[0] < 0.25 and ratio[1] < 0.5 and 0.5 < ratio[-1] < 2, ratio
    assert ratio[0] < ratio[1] < ratio[2] < ratio[3], ratio
