"""Multi-process training through torch.distributed (torchrun sets the environment).

textrnn adds no scheme of its own: ``torchrun`` launches the processes, the process
group is NCCL on GPUs and gloo on CPUs, and gradients are averaged by
DistributedDataParallel. Rank 0 alone writes the run directory.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> DistInfo:
    """Read RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them (single process otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(info: DistInfo, device: torch.device) -> torch.device:
    """Join the process group; on CUDA each process takes the GPU of its local rank."""
    if not info.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def shutdown(info: DistInfo) -> None:
    """Leave the process group, once the caller has dropped its DDP wrappers.

    Reference cycles can keep a dropped DDP wrapper, and the process group it holds, alive
    until the interpreter is being torn down; gloo's threads stopped then abort the process
    ("terminate called without an active exception": 1 two-process test run in 15 to 20
    here). Collecting first frees them while the interpreter is whole.
    """
    if info.enabled and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def _active(info: DistInfo) -> bool:
    """Whether collectives run: across processes, or over any group the caller has joined.

    A one-process group counts, so the same helpers can be checked on one GPU (tests/gpu).
    """
    return info.enabled or (dist.is_available() and dist.is_initialized())


def _group_size(info: DistInfo) -> int:
    return dist.get_world_size() if dist.is_initialized() else info.world_size


def backend_device(info: DistInfo) -> torch.device:
    """The device a collective's tensors must be on: this process's GPU for NCCL, else the CPU.

    NCCL sends only CUDA tensors (a CPU tensor raises "No backend type associated with
    device type cpu"); gloo is given CPU tensors. :func:`init` made cuda:<local rank> current.
    """
    if dist.get_backend() == "nccl":
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


def barrier(info: DistInfo) -> None:
    """Wait until every process reaches this point."""
    if not _active(info):
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[info.local_rank])  # name the GPU rather than let NCCL guess it
    else:
        dist.barrier()


def mean(info: DistInfo, value: torch.Tensor) -> torch.Tensor:
    """Average a tensor over all processes; the result is on ``value``'s device."""
    if not _active(info):
        return value
    sent = value.detach().to(backend_device(info), copy=True)
    dist.all_reduce(sent)
    return (sent / _group_size(info)).to(value.device)


def any_flag(info: DistInfo, flag: int) -> int:
    """The largest flag of any process (for a stop signal that reached only some of them)."""
    if not _active(info):
        return flag
    t = torch.tensor([flag], dtype=torch.int64, device=backend_device(info))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def all_agree_stop(info: DistInfo, flag: bool) -> bool:
    """True on every process when any one of them wants to stop, so that all stop together.

    A time budget is read from each process's own clock: without this agreement one rank
    could leave the loop while the others wait in DDP's next all-reduce for ever.
    """
    return any_flag(info, int(bool(flag))) > 0


def gather_batch(info: DistInfo, tensor: torch.Tensor, dim: int) -> torch.Tensor:
    """Concatenate each process's slice of a batch along ``dim`` (every process gets it).

    Every process must pass the same shape and dtype. The result is on ``tensor``'s device,
    so a CPU RNG state (uint8) comes back as a CPU uint8 tensor under NCCL too.
    """
    if not _active(info):
        return tensor
    sent = tensor.detach().to(backend_device(info)).contiguous()
    parts = [torch.empty_like(sent) for _ in range(_group_size(info))]
    dist.all_gather(parts, sent)
    return torch.cat(parts, dim=dim).to(tensor.device)


def local_slice(info: DistInfo, tensor: torch.Tensor, dim: int) -> torch.Tensor:
    """This process's share of a batch saved whole by :func:`gather_batch`."""
    if not info.enabled:
        return tensor
    size = tensor.shape[dim] // info.world_size
    return tensor.narrow(dim, info.rank * size, size).contiguous()
