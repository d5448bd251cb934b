# SPDX-License-Identifier: Apache-2.0
"""one_hot: a label map as one channel per class."""

from __future__ import annotations

from p2phd import _native
from p2phd.ops.arrays import (
    ArrayLike,
    DTypeLike,
    as_label_batch,
    call_native_checked,
    float_output_name,
    kind_of,
    prepare_output,
)


def one_hot(
    labels: ArrayLike,
    label_nc: int,
    dtype: DTypeLike = "float32",
    *,
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """[N x] H x W labels -> [N x] C x H x W, channel c is 1 where labels == c, else 0."""
    kind = kind_of(labels)
    labels, single = as_label_batch(labels, label_nc)
    n, h, w = labels.shape
    out, result = prepare_output(kind, (n, label_nc, h, w), float_output_name(dtype), out, single)
    call_native_checked(
        _native.one_hot, kind, labels, out, label_nc,
        threads=threads, check=check, label_nc=label_nc,
    )  # fmt: skip
    return result
