# SPDX-License-Identifier: Apache-2.0
"""The actor pool sized from the cluster's resources, and the arguments of every Ray Data
stage, built here in one place so tests can check them without starting Ray."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from p2phd.extras import require

# Logical CPUs of one read or write task. The actors never take the last 2 * IO_CPUS of
# the cluster: one read and one write task always find a slot beside them. Without that
# reserve, actors holding every CPU leave the read tasks backpressured forever (a pool of
# 2 one-CPU actors on a 2-CPU cluster never renders a map).
IO_CPUS = 0.25
IO_RESERVE = 2 * IO_CPUS
# Default CPU pool: one actor per this many CPUs (each runs a multi-threaded torch).
CPUS_PER_DEFAULT_ACTOR = 4


@dataclass(frozen=True)
class PoolPlan:
    actors: int
    gpus_per_actor: int  # 1 on GPU clusters, 0 for CPU actors
    cpus_per_actor: float
    threads_per_actor: int  # torch intra-op threads of a CPU actor
    note: str | None = None  # why the pool is smaller than asked for

    @property
    def device(self) -> str:
        return "cuda" if self.gpus_per_actor else "cpu"

    def describe(self) -> str:
        if self.gpus_per_actor:
            return f"{self.actors} GPU actor{'s' * (self.actors > 1)} (1 GPU each)"
        return (
            f"{self.actors} CPU actor{'s' * (self.actors > 1)} ({self.cpus_per_actor:g} CPU, "
            f"{self.threads_per_actor} thread{'s' * (self.threads_per_actor > 1)} each)"
        )


def plan_pool(resources: Mapping[str, float], actors: int | None, device: str) -> PoolPlan:
    """One actor per GPU where the cluster has GPUs (unless `device` is "cpu"), CPU actors
    otherwise; `actors` (None: the default) is capped at what the cluster holds."""
    if actors is not None and actors < 1:
        raise ValueError(f"actors must be at least 1, got {actors}")
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(
            "device must be auto, cpu or cuda on Ray (Ray gives each actor its GPU), "
            f"got {device!r}"
        )
    cpus, gpus = float(resources.get("CPU", 0)), int(resources.get("GPU", 0))
    if cpus < IO_RESERVE + 0.25:
        raise ValueError(f"the Ray cluster has {cpus:g} CPUs; it needs at least 1")
    use_gpu = gpus > 0 and device != "cpu"
    if device == "cuda" and not gpus:
        raise ValueError("device 'cuda' was asked for, but the Ray cluster has no GPU")
    capacity = gpus if use_gpu else max(1, math.floor(cpus))  # at most one actor per core
    default = gpus if use_gpu else max(1, math.floor((cpus - IO_RESERVE) / CPUS_PER_DEFAULT_ACTOR))
    wanted = actors or default
    count = min(wanted, capacity)
    note = None
    if count < wanted:
        what = f"{gpus} GPU{'s' * (gpus > 1)}" if use_gpu else f"{cpus:g} CPUs"
        note = f"{wanted} actors asked for; the cluster's {what} hold {count}"
    share = math.floor((cpus - IO_RESERVE) / count * 100) / 100  # rounded down: it must fit
    if use_gpu:
        return PoolPlan(count, 1, min(1.0, share), 1, note)
    return PoolPlan(count, 0, share, max(1, math.ceil(share)), note)


def io_stage_arguments() -> dict[str, Any]:
    """map_batches arguments of the PNG decode and encode stages (one block per task)."""
    return {"batch_size": None, "batch_format": "numpy", "num_cpus": IO_CPUS}


def render_stage_arguments(
    plan: PoolPlan,
    model: Path,
    runtime_options: Mapping[str, Any],
    style: Mapping[int, int] | None,
    batch_size: int,
) -> dict[str, Any]:
    """map_batches arguments of the render stage: a fixed pool of RenderActor, one Runtime
    each, on one GPU or a share of the CPUs."""
    ActorPoolStrategy = require("ray.data").ActorPoolStrategy

    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    arguments: dict[str, Any] = {
        "fn_constructor_kwargs": {
            "model": str(model),
            "runtime_options": {**runtime_options, "device": plan.device},
            "threads": plan.threads_per_actor,
            "style": dict(style) if style else None,
        },
        "batch_size": batch_size,
        "batch_format": "numpy",
        # Runtime makes torch tensors of the maps: give it writable arrays.
        "zero_copy_batch": False,
        "compute": ActorPoolStrategy(size=plan.actors),
        "num_cpus": plan.cpus_per_actor,
    }
    if plan.gpus_per_actor:
        arguments["num_gpus"] = plan.gpus_per_actor
    return arguments
