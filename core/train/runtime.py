"""Where a job runs: device choice (CUDA, Apple MPS, CPU), mixed precision, seeding, and torchrun DDP.

Under ``torchrun --nproc_per_node N`` the environment carries RANK / WORLD_SIZE / LOCAL_RANK; the job
then joins a process group (nccl on CUDA, gloo otherwise), wraps its model in
DistributedDataParallel, and only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import os
import random
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from core.train.speed import FP32, SpeedOption


@dataclass
class Runtime:
    device: torch.device
    amp: bool
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    speed: SpeedOption = FP32   # precision / memory format / compile, chosen by core.train.speed.autotune

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def autocast(self) -> AbstractContextManager:
        return self.speed.autocast(self.device) if self.speed.dtype else nullcontext()

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for fp16 on a GPU (bf16 and fp32 need none)."""
        enabled = self.speed.needs_scaler and self.device.type in ("cuda", "mps")
        return torch.amp.GradScaler(self.device.type if enabled else "cpu", enabled=enabled)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around ``model`` when the job runs under torchrun."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = None
        if self.device.type == "cuda":
            ids = [self.device.index]
            # BatchNorm statistics over the global batch; converts child modules in place, so the
            # objective's reference stays valid and checkpoint keys do not change.
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=False)

    def max_flag(self, flag: int) -> int:
        """The largest ``flag`` over all ranks (cancel / budget decisions every rank must share)."""
        return int(self.max_values([float(flag)])[0])

    def max_values(self, values: list[float]) -> list[float]:
        """Element-wise maximum over all ranks, in one collective."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [float(v) for v in t.tolist()]

    def mean(self, value: float) -> float:
        """The mean of ``value`` over all ranks (epoch losses are computed on each rank's shard)."""
        if not self.distributed:
            return value
        t = torch.tensor([float(value)], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t.item()) / self.world

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def pick_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    if preference not in ("auto", "cpu", "cuda", "mps"):
        return torch.device(preference)
    if preference in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    mps = getattr(torch.backends, "mps", None)
    if preference in ("auto", "mps") and mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def start_runtime(device: str = "auto", amp: bool = True, threads: int = 0) -> Runtime:
    """Pick the device and join the torchrun process group when there is one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if threads > 0:
        torch.set_num_threads(threads)
    dev = pick_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
    return Runtime(device=dev, amp=bool(amp and dev.type == "cuda"), rank=rank, world=world,
                   local_rank=local_rank)


def stop_runtime(rt: Runtime) -> None:
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (the loop reseeds per epoch, which makes resume exact)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
