# SPDX-License-Identifier: Apache-2.0
"""Where a training process runs: its rank under torchrun (WORLD_SIZE, RANK, LOCAL_RANK),
its device from --device / --gpu_ids, the process group, and the autocast dtype."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

import p2phd

from .options import TrainOptions


@dataclass(frozen=True)
class Placement:
    world_size: int
    rank: int
    local_rank: int
    device: torch.device
    amp_dtype: torch.dtype | None  # None: full precision
    ops_on_device: bool  # the native ops run where the tensors are

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def training_device(opts: TrainOptions, world_size: int, local_rank: int) -> torch.device:
    want_cuda = opts.device == "cuda" or (
        opts.device == "auto" and torch.cuda.is_available() and opts.gpu_ids.strip() != "-1"
    )
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available")
    if not want_cuda:
        return torch.device("cpu")
    ids = [int(i) for i in opts.gpu_ids.split(",") if i.strip() and int(i) >= 0]
    index = local_rank if world_size > 1 else (ids[0] if ids else 0)
    device = torch.device("cuda", index)
    torch.cuda.set_device(device)
    torch.backends.cudnn.benchmark = True
    return device


def place(opts: TrainOptions) -> Placement:
    """This process's placement; joins the process group under torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = training_device(opts, world_size, local_rank)
    if opts.fp16 and device.type != "cuda":
        raise ValueError("--fp16 needs CUDA; on the CPU use --bf16")
    if world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend)
    if opts.num_threads > 0:
        torch.set_num_threads(opts.num_threads)
    return Placement(
        world_size=world_size,
        rank=rank,
        local_rank=local_rank,
        device=device,
        amp_dtype=torch.float16 if opts.fp16 else torch.bfloat16 if opts.bf16 else None,
        # Ops run where the tensors are only if the native module was built for that device.
        ops_on_device=device.type == "cpu" or bool(p2phd.build_info()["cuda"]),
    )
