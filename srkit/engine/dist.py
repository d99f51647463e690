"""Distributed context from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.enabled:
            dist.barrier()

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def gather_objects(self, obj) -> list:
        if not self.enabled:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def any_flag(self, flag: bool, device) -> bool:
        """True on every rank if any rank's ``flag`` is set (one tiny all-reduce)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t)
        return bool(t.item() > 0)


def init_distributed(backend: str | None = None, port: int = 29500) -> DistContext:
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return DistContext()
    os.environ.setdefault('MASTER_PORT', str(port))  # launchers other than torchrun (BasicSR's slurm)
    rank = int(os.environ['RANK'])
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend or ('nccl' if use_cuda else 'gloo'))
    return DistContext(rank, world, local_rank)
