# SPDX-License-Identifier: Apache-2.0
"""instance_norm: InstanceNorm with ReLU, residual and reflection padding fused."""

from __future__ import annotations

import numpy as np

from p2phd import _native
from p2phd.ops.arrays import (
    INT64_MAX,
    ArrayLike,
    as_batch,
    call_native,
    kind_of,
    name_of_dtype,
    native_array,
    require_int,
)
from p2phd.ops.layout import in_layout, is_channels_last, prepare_layout_output


def instance_norm(
    x: ArrayLike,
    *,
    relu: bool = False,
    residual: ArrayLike | None = None,
    pad: int = 0,
    residual_pad: int = 0,
    eps: float = 1e-5,
    out: ArrayLike | None = None,
    threads: int | None = None,
) -> ArrayLike:
    """InstanceNorm of [N x] C x H x W (no affine, biased variance, as nn.InstanceNorm2d),
    then ReLU if `relu`, then plus `residual` (x's shape padded by `residual_pad` on each
    side; its interior is added), written reflection-padded by `pad`: [N x] C x H + 2 pad x
    W + 2 pad in x's dtype. Statistics: each 4096-pixel chunk's (count, mean, M2), in double
    for float32 input (float for fp16/bf16), merged in double with Chan's formula.

    A batch stored channels_last (NHWC) gives a channels_last result; the residual is read
    in that layout too."""
    kind = kind_of(x, residual)
    channels_last = is_channels_last(x)
    x, single = (x.detach(), False) if channels_last else as_batch(x, "x", 3)
    n, c, h, w = x.shape
    native_residual = None
    if residual is not None:
        if residual.ndim != x.ndim - single:
            raise ValueError(f"residual must have {x.ndim - single} dimensions, as x")
        residual = in_layout(residual[None] if single else residual, channels_last)
        native_residual = native_array(residual, kind, channels_last)
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or not 0 <= pad < min(h, w):
        raise ValueError(f"pad must be in [0, min(H, W)) = [0, {min(h, w)}), got {pad!r}")
    require_int(residual_pad, "residual_pad", 0, INT64_MAX)
    x_dtype = name_of_dtype(x.dtype)
    shape = (n, c, h + 2 * pad, w + 2 * pad)
    out, result = prepare_layout_output(kind, shape, x_dtype, out, single, channels_last)
    workspace = kind.empty((_native.instance_norm_workspace_bytes(list(x.shape)),), "uint8")
    call_native(
        _native.instance_norm,
        kind,
        native_array(x, kind, channels_last),
        native_residual,
        native_array(out, kind, channels_last),
        pad,
        residual_pad,
        relu,
        channels_last,
        eps,
        workspace,
        threads=threads,
    )
    return result
