"""torch.distributed set-up from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

NCCL on GPU, gloo on CPU. Without torchrun variables the run is a single process and nothing is initialised.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialised: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun; pick the device ('auto', 'cpu' or 'cuda')."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but no CUDA device is available")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    info = DistInfo(rank, world_size, local_rank, dev)
    if world_size > 1 or "TORCHELASTIC_RUN_ID" in os.environ:
        backend = "nccl" if use_cuda else "gloo"
        kwargs = {"device_id": dev} if use_cuda else {}
        dist.init_process_group(backend=backend, **kwargs)
        info.initialised = True
    return info


def barrier(info: DistInfo) -> None:
    if info.initialised:
        if info.device.type == "cuda":
            dist.barrier(device_ids=[info.local_rank])
        else:
            dist.barrier()


def any_true(flag: bool, info: DistInfo) -> bool:
    """True when `flag` is true on any rank (every rank gets the same answer)."""
    if not info.initialised:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def max_over_ranks(value: float, info: DistInfo) -> float:
    if not info.initialised:
        return float(value)
    t = torch.tensor([float(value)], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def mean_over_ranks(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if not info.initialised:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def cleanup(info: DistInfo) -> None:
    if info.initialised and dist.is_initialized():
        # Free DDP wrappers still referenced from garbage cycles first: their reducers hold the process group,
        # and tearing the group down under them can abort the process at interpreter exit.
        gc.collect()
        dist.destroy_process_group()
