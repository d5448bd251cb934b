# SPDX-License-Identifier: Apache-2.0
"""The p2phd ops the fused backend calls, registered as PyTorch custom operators
(`torch.ops.p2phd.*`), so that torch.compile traces the fused generator in one graph: the
ops stay opaque calls into p2phd's kernels, and the compiler picks the convolutions
between them. Each has a fake implementation that gives its output's shape, dtype and
memory layout without running it. Errors are not checked here (check=False): the Runtime
validates labels before a render."""

from __future__ import annotations

import torch

from p2phd import ops


def _empty_nchw(
    like: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype, channels_last: bool
) -> torch.Tensor:
    """An N x C x H x W result as the ops allocate it: with the strides of torch.empty in that
    memory format (which differ from .contiguous()'s where C == 1 or H == W == 1)."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(shape, dtype=dtype, device=like.device, memory_format=memory_format)


@torch.library.custom_op("p2phd::instance_edges", mutates_args=())
def instance_edges(instances: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return ops.instance_edges(instances, dtype)


@instance_edges.register_fake
def _(instances: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    n, h, w = instances.shape
    return instances.new_empty((n, 1, h, w), dtype=dtype)


@torch.library.custom_op("p2phd::generator_input", mutates_args=())
def generator_input(
    labels: torch.Tensor,
    instances: torch.Tensor | None,
    features: torch.Tensor | None,
    label_nc: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    return ops.generator_input(
        labels, instances, label_nc, features=features, dtype=dtype, check=False
    )


@generator_input.register_fake
def _(
    labels: torch.Tensor,
    instances: torch.Tensor | None,
    features: torch.Tensor | None,
    label_nc: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    n, h, w = labels.shape
    channels = label_nc + (instances is not None)
    channels += 0 if features is None else features.shape[1]
    return labels.new_empty((n, channels, h, w), dtype=dtype)


@torch.library.custom_op("p2phd::label_conv", mutates_args=())
def label_conv(
    labels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    label_nc: int,
    edges: torch.Tensor | None,
    features: torch.Tensor | None,
    pool: bool,
    dtype: torch.dtype,
    channels_last: bool,
) -> torch.Tensor:
    return ops.label_conv(
        labels, weight, bias, label_nc, edges=edges, features=features, pool=pool,
        dtype=dtype, channels_last=channels_last, check=False,
    )  # fmt: skip


@label_conv.register_fake
def _(
    labels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    label_nc: int,
    edges: torch.Tensor | None,
    features: torch.Tensor | None,
    pool: bool,
    dtype: torch.dtype,
    channels_last: bool,
) -> torch.Tensor:
    n, h, w = labels.shape
    if pool:
        h, w = (h + 1) // 2, (w + 1) // 2
    return _empty_nchw(labels, (n, weight.shape[0], h, w), dtype, channels_last)


@torch.library.custom_op("p2phd::instance_norm", mutates_args=())
def instance_norm(
    x: torch.Tensor,
    residual: torch.Tensor | None,
    relu: bool,
    pad: int,
    residual_pad: int,
    eps: float,
) -> torch.Tensor:
    return ops.instance_norm(
        x, relu=relu, residual=residual, pad=pad, residual_pad=residual_pad, eps=eps
    )


@instance_norm.register_fake
def _(
    x: torch.Tensor,
    residual: torch.Tensor | None,
    relu: bool,
    pad: int,
    residual_pad: int,
    eps: float,
) -> torch.Tensor:
    n, c, h, w = x.shape
    return _empty_nchw(x, (n, c, h + 2 * pad, w + 2 * pad), x.dtype, ops.is_channels_last(x))


@torch.library.custom_op("p2phd::output_conv", mutates_args=())
def output_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return ops.output_conv(x, weight, bias)


@output_conv.register_fake
def _(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    n, _, h, w = x.shape
    k = weight.shape[-1]
    return x.new_empty((n, h - k + 1, w - k + 1, weight.shape[0]), dtype=torch.uint8)
