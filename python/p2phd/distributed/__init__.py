# SPDX-License-Identifier: Apache-2.0
"""Dataset rendering on Ray Data (the optional `ray` extra): label maps are decoded by CPU
tasks, rendered by a pool of actors that each hold one Runtime (one GPU per actor on GPU
clusters), and written as PNGs with the names and styles of the local folder render.

Importing this package does not import Ray; rendering does, and says how to install it."""

from p2phd.distributed.jobs import plan_maps
from p2phd.distributed.pipeline import (
    RenderSummary,
    render_dataset,
    render_jobs,
)
from p2phd.distributed.pool import PoolPlan, plan_pool

__all__ = [
    "PoolPlan",
    "RenderSummary",
    "plan_maps",
    "plan_pool",
    "render_dataset",
    "render_jobs",
]
