# SPDX-License-Identifier: Apache-2.0
"""output_conv: the generator's last layer (conv, tanh) written as an 8-bit image."""

from __future__ import annotations

from p2phd import _native
from p2phd.ops.arrays import ArrayLike, as_batch, call_native, kind_of, native_array, prepare_output
from p2phd.ops.layout import conv_taps, is_channels_last


def output_conv(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None,
    *,
    out: ArrayLike | None = None,
    threads: int | None = None,
) -> ArrayLike:
    """The generator's last layer as an image: a valid (unpadded) conv2d of [N x] C_in x H x W
    with a C_out x C_in x k x k `weight` (C_out <= 4, k odd) and `bias`, tanh, then uint8 as
    to_uint8_image: [N x] H - k + 1 x W - k + 1 x C_out. Pad x first (instance_norm's `pad`)
    for a same-size output. x may be stored channels_last. Accumulates in float32."""
    kind = kind_of(x, weight, bias)
    channels_last = is_channels_last(x)
    x, single = (x.detach(), False) if channels_last else as_batch(x, "x", 3)
    n, _, h, w = x.shape
    taps, bias = conv_taps(weight, bias, kind)
    k = taps.shape[1]
    shape = (n, h - k + 1, w - k + 1, taps.shape[-1])
    if min(shape[1:3]) < 1:
        raise ValueError(f"x of {h} x {w} is smaller than the {k} x {k} kernel")
    out, result = prepare_output(kind, shape, "uint8", out, single)
    native_x = native_array(x, kind, channels_last)
    call_native(
        _native.output_conv, kind, native_x, taps, bias, out, channels_last, threads=threads
    )
    return result
