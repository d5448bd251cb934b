# SPDX-License-Identifier: Apache-2.0
"""instance_mean: instance-wise average pooling of features (the encoder's output),
differentiable."""

from __future__ import annotations

from typing import Any

import torch

from p2phd import _native
from p2phd.ops.arrays import (
    ArrayLike,
    as_batch,
    call_native_checked,
    kind_of,
    name_of_dtype,
    prepare_output,
)


def _instance_mean_native(
    features: ArrayLike,
    instances: ArrayLike,
    out: ArrayLike | None,
    check: bool,
    threads: int | None,
) -> ArrayLike:
    kind = kind_of(features, instances)
    features, single = as_batch(features, "features", 3)
    instances, _ = as_batch(instances, "instances", 2)
    n, k, h, w = features.shape
    out, result = prepare_output(
        kind, tuple(features.shape), name_of_dtype(features.dtype), out, single
    )
    workspace = kind.empty((_native.instance_mean_workspace_bytes(n, h, w, k),), "uint8")
    call_native_checked(
        _native.instance_mean, kind, features, instances, out, workspace,
        threads=threads, check=check,
    )  # fmt: skip
    return result


class _InstanceMean(torch.autograd.Function):
    # Averaging over an instance is a symmetric linear map, so its gradient is itself.
    @staticmethod
    def forward(
        ctx: Any, features: torch.Tensor, instances: torch.Tensor, threads: int | None
    ) -> torch.Tensor:
        ctx.save_for_backward(instances)
        ctx.threads = threads
        return _instance_mean_native(features, instances, out=None, check=True, threads=threads)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (instances,) = ctx.saved_tensors
        mean = _instance_mean_native(grad, instances, out=None, check=False, threads=ctx.threads)
        return mean, None, None


def instance_mean(
    features: ArrayLike, instances: ArrayLike,
    *, out: ArrayLike | None = None, check: bool = True, threads: int | None = None,
) -> ArrayLike:  # fmt: skip
    """Instance-wise average pooling: [N x] K x H x W features, [N x] H x W ids -> every pixel
    gets the mean over its instance (in its own image) of each channel, accumulated in float64.

    Differentiable for torch tensors that require grad (then without `out`)."""
    if isinstance(features, torch.Tensor) and features.requires_grad and torch.is_grad_enabled():
        if out is not None:
            raise ValueError("out cannot be used when features require grad")
        return _InstanceMean.apply(features, instances, threads)
    return _instance_mean_native(features, instances, out, check, threads)
