"""Process-group setup and the few collectives the engine needs.

Training code learns about its launcher only through environment variables: torchrun's RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR / MASTER_PORT. Nothing here imports a cluster library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _pick_device(requested: str, local_rank: int) -> torch.device:
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        from wilss.errors import WilssError

        raise WilssError("train.device=cuda but no CUDA device is visible; use train.device=cpu or auto.")
    # One process per GPU. LOCAL_RANK counts the processes of this node; when the scheduler already gave each
    # process only its own GPU (srun --gpus-per-task), the node's GPUs are fewer than its processes.
    index = local_rank % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


_control_group = None  # CPU (gloo) group for control decisions, so that they never wait on the GPU stream


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group described by the environment, or run as a single process."""
    global _control_group
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    info = DistInfo(rank, world_size, local_rank, _pick_device(device, local_rank))
    if world_size > 1 and not torch_dist.is_initialized():
        backend = "nccl" if info.device.type == "cuda" else "gloo"
        torch_dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timedelta(minutes=30),
                                device_id=info.device if backend == "nccl" else None)
        _control_group = torch_dist.new_group(backend="gloo") if backend == "nccl" else None
    return info


def shutdown() -> None:
    global _control_group
    _control_group = None
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks in place (no-op for one process)."""
    if torch_dist.is_initialized() and torch_dist.get_world_size() > 1:
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
    return tensor


def max_over_ranks(value: int) -> int:
    """The largest of every rank's `value`, on every rank (a CPU all-reduce, no device sync)."""
    if not (torch_dist.is_initialized() and torch_dist.get_world_size() > 1):
        return value
    tensor = torch.tensor([value])
    torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX, group=_control_group)
    return int(tensor.item())


def barrier() -> None:
    if torch_dist.is_initialized() and torch_dist.get_world_size() > 1:
        torch_dist.barrier()

