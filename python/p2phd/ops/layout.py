# SPDX-License-Identifier: Apache-2.0
"""Layouts shared by the convolution ops: NHWC (channels_last) tensors, outputs stored in
either layout, casts, and conv weights as the kernels read them."""

from __future__ import annotations

import numpy as np
import torch

from p2phd.ops.arrays import (
    TORCH_DTYPE_NAMES,
    ArrayLike,
    Kind,
    as_contiguous,
    kind_of,
    name_of_dtype,
    numpy_dtype_named,
    prepare_output,
    require_disjoint,
    require_writable,
    torch_dtype_named,
)


def conv_taps(weight: ArrayLike, bias: ArrayLike | None, kind: Kind) -> tuple[ArrayLike, ArrayLike]:
    """A C_out x C_in x k x k conv weight as the kernels read it, float32 C_in x k x k x C_out
    (a tap's output channels contiguous), and its float32 bias (zeros when None)."""
    if weight.ndim != 4 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError(f"weight must be C_out x C_in x k x k, got shape {tuple(weight.shape)}")
    if kind_of(weight, bias) != kind:
        raise ValueError("weight and bias must be of the same kind and device as the inputs")
    for name, array in (("weight", weight), ("bias", bias)):
        if array is not None and name_of_dtype(array.dtype) not in TORCH_DTYPE_NAMES.values():
            raise ValueError(f"{name} must be real numbers, got {array.dtype}")
    out_channels = weight.shape[0]
    if isinstance(weight, torch.Tensor):
        taps = weight.detach().permute(1, 2, 3, 0).to(torch.float32).contiguous()
        bias = (
            torch.zeros(out_channels, device=weight.device)
            if bias is None
            else bias.detach().to(torch.float32).contiguous()
        )
    else:
        taps = np.ascontiguousarray(weight.transpose(1, 2, 3, 0), dtype=np.float32)
        bias = (
            np.zeros(out_channels, np.float32)
            if bias is None
            else np.ascontiguousarray(bias, dtype=np.float32)
        )
    return taps, bias


def is_channels_last(array: ArrayLike) -> bool:
    """Whether `array` is an N x C x H x W torch tensor stored NHWC (PyTorch's channels_last)
    rather than NCHW. Where both layouts coincide (C == 1 or H == W == 1) it counts as NCHW."""
    return (
        isinstance(array, torch.Tensor)
        and array.ndim == 4
        and not array.is_contiguous()
        and array.is_contiguous(memory_format=torch.channels_last)
    )


def in_layout(array: ArrayLike, channels_last: bool) -> ArrayLike:
    if channels_last:
        return array.detach().contiguous(memory_format=torch.channels_last)
    return as_contiguous(array)


def prepare_layout_output(
    kind: Kind,
    shape: tuple[int, ...],
    dtype_name: str,
    out: ArrayLike | None,
    single: bool,
    channels_last: bool,
) -> tuple[ArrayLike, ArrayLike]:
    """prepare_output for N x C x H x W results that may be stored channels_last."""
    if not channels_last:
        return prepare_output(kind, shape, dtype_name, out, single)
    if out is None:
        out = torch.empty(
            shape,
            dtype=torch_dtype_named(dtype_name),
            device=kind.device,
            memory_format=torch.channels_last,
        )
        return out, out
    if kind_of(out) != kind or tuple(out.shape) != shape or name_of_dtype(out.dtype) != dtype_name:
        raise ValueError(f"out must be {dtype_name} of shape {shape} on the inputs' device")
    if not out.is_contiguous(memory_format=torch.channels_last):
        raise ValueError("out must be stored channels_last, as the result is")
    require_writable(out)
    require_disjoint(out, kind.reads)
    return out, out


def cast_to(array: ArrayLike, dtype_name: str, kind: Kind) -> ArrayLike:
    if name_of_dtype(array.dtype) == dtype_name:
        return array
    if kind.is_torch:
        return array.to(torch_dtype_named(dtype_name))
    return array.astype(numpy_dtype_named(dtype_name))
