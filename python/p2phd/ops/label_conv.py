# SPDX-License-Identifier: Apache-2.0
"""label_conv: the generator's first convolution read straight from the label map."""

from __future__ import annotations

import torch

from p2phd import _native
from p2phd.ops.arrays import (
    ArrayLike,
    DTypeLike,
    Kind,
    as_batch,
    as_label_batch,
    call_native_checked,
    float_output_name,
    kind_of,
    native_array,
)
from p2phd.ops.layout import cast_to, conv_taps, prepare_layout_output


def _pooled(channels: ArrayLike) -> ArrayLike:
    """pix2pixHD's pyramid downsampling (3 x 3 average, stride 2, padding 1 not counted) of
    N x K x H x W values, computed in float32 and returned as float32 of the same kind."""
    tensor = channels if isinstance(channels, torch.Tensor) else torch.from_numpy(channels)
    n, k, h, w = tensor.shape
    if tensor.numel() == 0:  # avg_pool2d refuses empty channel or spatial dimensions
        pooled = tensor.new_zeros((n, k, (h + 1) // 2, (w + 1) // 2), dtype=torch.float32)
    else:
        pooled = torch.nn.functional.avg_pool2d(
            tensor.float(), 3, stride=2, padding=1, count_include_pad=False
        )
    return pooled if isinstance(channels, torch.Tensor) else pooled.numpy()


def _extra_channels(
    channels: ArrayLike,
    name: str,
    labels_shape: tuple[int, ...],
    pool: bool,
    dtype: str,
    kind: Kind,
) -> ArrayLike:
    """[N x] K x H x W `edges` or `features` batched, checked to have the labels' N, H, W
    (before pooling changes them), pooled if `pool`, and cast to the output's dtype."""
    channels, _ = as_batch(channels, name, 3)
    n, h, w = labels_shape
    if channels.shape[0] != n or tuple(channels.shape[2:]) != (h, w):
        raise ValueError(
            f"{name} must be N x K x H x W with N, H, W = {n}, {h}, {w} as the labels, "
            f"got shape {tuple(channels.shape)}"
        )
    return cast_to(_pooled(channels) if pool else channels, dtype, kind)


def label_conv(
    labels: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None,
    label_nc: int,
    *,
    edges: ArrayLike | None = None,
    features: ArrayLike | None = None,
    pool: bool = False,
    dtype: DTypeLike = "float32",
    channels_last: bool = False,
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """The generator's first convolution read straight from the label map: conv2d of the
    reflection-padded (k // 2) input that generator_input would write (one-hot, then the
    [N x] 1 x H x W `edges` if given, then the [N x] K x H x W `features` if given) with a
    C_out x C_in x k x k `weight` (k odd) and `bias`. The one-hot part is a gather of one
    weight column per tap; nothing of size C_in x H x W is ever written. Accumulates in
    float32; returns [N x] C_out x H x W of `dtype`, batched tensors stored channels_last if
    asked.

    With `pool`, the convolution runs on that input average-pooled as pix2pixHD's pyramid
    does (3 x 3, stride 2, padding 1 not counted): the coarse generator's first layer. The
    result is then [N x] C_out x ceil(H / 2) x ceil(W / 2)."""
    kind = kind_of(labels, edges, features, weight, bias)
    labels, single = as_label_batch(labels, label_nc)
    n, h, w = labels.shape
    out_dtype = float_output_name(dtype)
    taps, bias = conv_taps(weight, bias, kind)
    if edges is not None:
        edges = _extra_channels(edges, "edges", labels.shape, pool, out_dtype, kind)
    if features is not None:
        features = _extra_channels(features, "features", labels.shape, pool, out_dtype, kind)
    if channels_last and (single or not kind.is_torch):
        raise ValueError("channels_last output needs a batch of torch tensors")
    if pool:
        h, w = (h + 1) // 2, (w + 1) // 2
    shape = (n, taps.shape[-1], h, w)
    out, result = prepare_layout_output(kind, shape, out_dtype, out, single, channels_last)
    native_out = native_array(out, kind, channels_last)
    call_native_checked(
        _native.label_conv, kind, labels, edges, features, label_nc, taps, bias, native_out,
        pool, channels_last, threads=threads, check=check, label_nc=label_nc,
    )  # fmt: skip
    return result
