"""textrnn.distributed's collectives over a real process group, as the trainers call them.

The callers pass CPU tensors (a stop flag, the CPU RNG state) and device tensors (the
loss, the carried state). Under NCCL every collective must send CUDA tensors: a CPU one
raises "No backend type associated with device type cpu" even in a one-rank group. The
NCCL case runs on a GPU (`pytest tests/gpu`, benchmarks/gpu_suite.sh); the gloo cases run
the same checks on the CPU everywhere, with one process and with two.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from textrnn import distributed
from textrnn.distributed import DistInfo


def nccl_missing() -> str | None:
    if not torch.cuda.is_available():
        return "needs a CUDA GPU"
    if not dist.is_nccl_available():
        return "this torch build has no NCCL"
    return None


def check_collectives(info: DistInfo, device: torch.device) -> None:
    """Call each helper as a trainer does on rank ``info.rank`` of ``info.world_size``."""
    rank, world = info.rank, info.world_size
    # A stop signal that reached only the last rank stops every rank.
    assert distributed.any_flag(info, 15 if rank == world - 1 else 0) == 15
    assert distributed.any_flag(info, 2) == 2  # the same signal everywhere is still that signal
    assert distributed.all_agree_stop(info, rank == world - 1) is True
    assert distributed.all_agree_stop(info, False) is False

    for where in ("cpu", device):
        value = torch.tensor([2.0 * rank, 1.0], device=where)
        averaged = distributed.mean(info, value)
        assert averaged.device == value.device
        assert averaged.tolist() == [world - 1.0, 1.0]  # mean of 0, 2, ..., 2(world-1)
        assert value.tolist() == [2.0 * rank, 1.0]  # the input is left alone

    # Each rank's CPU RNG state, as the checkpoint stores it: CPU uint8 in rank order.
    torch.manual_seed(100 + rank)
    state = torch.get_rng_state()
    states = distributed.gather_batch(info, state[None], 0)
    assert states.device.type == "cpu" and states.dtype == torch.uint8
    assert states.shape == (world, state.numel())
    for r in range(world):
        torch.manual_seed(100 + r)
        assert torch.equal(states[r], torch.get_rng_state())

    # Carried state (layers, batch, hidden) on the device: gathered along the batch, sliced back.
    carried = torch.full((2, 3, 4), float(rank), device=device)
    whole = distributed.gather_batch(info, carried, 1)
    assert whole.device == carried.device and whole.shape == (2, 3 * world, 4)
    assert whole[0, :, 0].tolist() == [float(r) for r in range(world) for _ in range(3)]
    assert torch.equal(distributed.local_slice(info, whole.cpu(), 1), carried.cpu())

    distributed.barrier(info)


def join(backend: str, rank: int, world: int, store: Path) -> DistInfo:
    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, local_rank=0 if backend == "nccl" else rank)


@pytest.fixture
def one_rank(tmp_path):
    """Join a one-process group of the requested backend, and leave it afterwards."""
    def start(backend: str) -> DistInfo:
        if backend == "nccl":
            torch.cuda.set_device(0)
        return join(backend, 0, 1, tmp_path / "store")
    yield start
    if dist.is_initialized():
        dist.destroy_process_group()


def test_backend_device_is_the_gpu_of_the_local_rank_for_nccl(monkeypatch):
    info = DistInfo(rank=3, world_size=4, local_rank=1)
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "nccl")
    assert distributed.backend_device(info) == torch.device("cuda", 1)
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "gloo")
    assert distributed.backend_device(info) == torch.device("cpu")


def test_collectives_in_a_one_rank_gloo_group(one_rank):
    check_collectives(one_rank("gloo"), torch.device("cpu"))


@pytest.mark.skipif(nccl_missing() is not None, reason=nccl_missing() or "")
def test_collectives_in_a_one_rank_nccl_group(one_rank):
    info = one_rank("nccl")
    assert distributed.backend_device(info) == torch.device("cuda", 0)
    check_collectives(info, torch.device("cuda", 0))


def _gloo_rank(rank: int, world: int, store: str) -> None:
    torch.set_num_threads(1)
    info = join("gloo", rank, world, Path(store))
    try:
        check_collectives(info, torch.device("cpu"))
    finally:
        dist.destroy_process_group()


def test_collectives_across_two_gloo_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # A failed assertion in either rank makes spawn raise ProcessRaisedException with its traceback.
    mp.spawn(_gloo_rank, args=(2, str(tmp_path / "store")), nprocs=2, join=True)
