# SPDX-License-Identifier: Apache-2.0
"""label_conv: the generator's first convolution read straight from the label map."""

from __future__ import annotations

import torch

from p2phd import _native
from p2phd.ops.arrays import (
    ArrayLike,
    DTypeLike,
    as_batch,
    float_output_name,
    kind_of,
    native_array,
    raise_on_error,
    require_positive,
    thread_count,
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


def _require_like_labels(channels: ArrayLike, name: str, n: int, h: int, w: int) -> None:
    """N x K x H x W channels of the labels' N, H, W (checked before pooling changes them)."""
    if channels.shape[0] != n or tuple(channels.shape[2:]) != (h, w):
        raise ValueError(
            f"{name} must be N x K x H x W with N, H, W = {n}, {h}, {w} as the labels, "
            f"got shape {tuple(channels.shape)}"
        )


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
    require_positive(label_nc, "label_nc")
    kind = kind_of(labels, edges, features, weight, bias)
    labels, single = as_batch(labels, "labels", 2)
    n, h, w = labels.shape
    out_dtype = float_output_name(dtype)
    taps, bias = conv_taps(weight, bias, kind)
    # The converted arrays stay referenced until the kernel has run.
    native_edges = None
    if edges is not None:
        edges, _ = as_batch(edges, "edges", 3)
        _require_like_labels(edges, "edges", n, h, w)
        edges = cast_to(_pooled(edges) if pool else edges, out_dtype, kind)
        native_edges = native_array(edges, kind)
    native_features = None
    if features is not None:
        features, _ = as_batch(features, "features", 3)
        _require_like_labels(features, "features", n, h, w)
        features = cast_to(_pooled(features) if pool else features, out_dtype, kind)
        native_features = native_array(features, kind)
    if channels_last and (single or not kind.is_torch):
        raise ValueError("channels_last output needs a batch of torch tensors")
    if pool:
        h, w = (h + 1) // 2, (w + 1) // 2
    shape = (n, taps.shape[-1], h, w)
    out, result = prepare_layout_output(kind, shape, out_dtype, out, single, channels_last)
    status = kind.zeros((2,), "int64")
    _native.label_conv(
        native_array(labels, kind),
        native_edges,
        native_features,
        label_nc,
        native_array(taps, kind),
        native_array(bias, kind),
        native_array(out, kind, channels_last),
        pool,
        channels_last,
        native_array(status, kind),
        thread_count(threads),
        kind.stream,
    )
    raise_on_error(status, check, label_nc)
    return result
