# SPDX-License-Identifier: Apache-2.0
"""one_hot: a label map as one channel per class."""

from __future__ import annotations

from p2phd import _native
from p2phd.ops.arrays import (
    ArrayLike,
    DTypeLike,
    as_batch,
    float_output_name,
    kind_of,
    native_array,
    prepare_output,
    raise_on_error,
    require_positive,
    thread_count,
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
    require_positive(label_nc, "label_nc")
    kind = kind_of(labels)
    labels, single = as_batch(labels, "labels", 2)
    n, h, w = labels.shape
    out, result = prepare_output(kind, (n, label_nc, h, w), float_output_name(dtype), out, single)
    status = kind.zeros((2,), "int64")
    _native.one_hot(
        native_array(labels, kind),
        native_array(out, kind),
        label_nc,
        native_array(status, kind),
        thread_count(threads),
        kind.stream,
    )
    raise_on_error(status, check, label_nc)
    return result
