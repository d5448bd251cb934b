# SPDX-License-Identifier: Apache-2.0
"""to_uint8_image: the generator's [-1, 1] output as 8-bit RGB."""

from __future__ import annotations

from p2phd import _native
from p2phd.ops.arrays import ArrayLike, as_batch, call_native, kind_of, prepare_output


def to_uint8_image(
    y: ArrayLike,
    *,
    out: ArrayLike | None = None,
    rounding: str = "nearest",
    threads: int | None = None,
) -> ArrayLike:
    """[N x] 3 x H x W generator output in [-1, 1] -> [N x] H x W x 3 uint8 RGB, as
    round(clamp((y + 1) / 2, 0, 1) * 255) with ties to even and NaN -> 0; with
    rounding="public" as the public pix2pixHD code does it, uint8(clip((y + 1) / 2 * 255,
    0, 255)) in float32 (truncated; NaN -> 0)."""
    if rounding not in ("nearest", "public"):
        raise ValueError(f"rounding must be 'nearest' or 'public', got {rounding!r}")
    kind = kind_of(y)
    y, single = as_batch(y, "y", 3)
    n, c, h, w = y.shape
    out, result = prepare_output(kind, (n, h, w, c), "uint8", out, single)
    call_native(_native.to_uint8_image, kind, y, out, rounding, threads=threads)
    return result
