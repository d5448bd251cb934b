# SPDX-License-Identifier: Apache-2.0
"""The p2phd ops the fused backend calls, registered as PyTorch custom operators
(`torch.ops.p2phd.*`), so that torch.compile traces the fused generator in one graph: the
ops stay opaque calls into p2phd's kernels, and the compiler picks the convolutions
between them. Each has a fake implementation that gives its output's shape, dtype and
memory layout without running it. Errors are not checked here (check=False): the Runtime
validates labels before a render."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch.library import CustomOpDef

from p2phd import ops


def _empty_nchw(
    like: torch.Tensor, shape: tuple[int, ...], dtype: torch.dtype, channels_last: bool
) -> torch.Tensor:
    """An N x C x H x W result as the ops allocate it: with the strides of torch.empty in that
    memory format (which differ from .contiguous()'s where C == 1 or H == W == 1)."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(shape, dtype=dtype, device=like.device, memory_format=memory_format)


def _custom_op(
    fake: Callable[..., torch.Tensor],
) -> Callable[[Callable[..., torch.Tensor]], CustomOpDef]:
    """Registers the decorated function as torch.ops.p2phd.<its name> (its signature is the
    op's schema) with `fake` as its fake implementation. `fake` names only the op's arguments
    that its output depends on, and is called with those, by name, so that it does not restate
    the op's signature."""

    def register(impl: Callable[..., torch.Tensor]) -> CustomOpDef:
        signature = inspect.signature(impl)
        fake_names = list(inspect.signature(fake).parameters)

        def fake_impl(*args: object, **kwargs: object) -> torch.Tensor:
            arguments = signature.bind(*args, **kwargs).arguments
            return fake(**{name: arguments[name] for name in fake_names})

        op = torch.library.custom_op(f"p2phd::{impl.__name__}", impl, mutates_args=())
        op.register_fake(fake_impl)
        return op

    return register


def _instance_edges_output(instances: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    n, h, w = instances.shape
    return instances.new_empty((n, 1, h, w), dtype=dtype)


@_custom_op(fake=_instance_edges_output)
def instance_edges(instances: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return ops.instance_edges(instances, dtype)


def _generator_input_output(
    labels: torch.Tensor,
    label_nc: int,
    instances: torch.Tensor | None,
    features: torch.Tensor | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    # Named in the order of the output's channels: one-hot, instance edges, features.
    n, h, w = labels.shape
    channels = label_nc + (instances is not None)
    channels += 0 if features is None else features.shape[1]
    return labels.new_empty((n, channels, h, w), dtype=dtype)


@_custom_op(fake=_generator_input_output)
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


def _label_conv_output(
    labels: torch.Tensor, weight: torch.Tensor, pool: bool, dtype: torch.dtype, channels_last: bool
) -> torch.Tensor:
    n, h, w = labels.shape
    if pool:
        h, w = (h + 1) // 2, (w + 1) // 2
    return _empty_nchw(labels, (n, weight.shape[0], h, w), dtype, channels_last)


@_custom_op(fake=_label_conv_output)
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


def _instance_norm_output(x: torch.Tensor, pad: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return _empty_nchw(x, (n, c, h + 2 * pad, w + 2 * pad), x.dtype, ops.is_channels_last(x))


@_custom_op(fake=_instance_norm_output)
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


def _output_conv_output(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    k = weight.shape[-1]
    return x.new_empty((n, h - k + 1, w - k + 1, weight.shape[0]), dtype=torch.uint8)


@_custom_op(fake=_output_conv_output)
def output_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return ops.output_conv(x, weight, bias)
