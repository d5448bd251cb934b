# SPDX-License-Identifier: Apache-2.0
"""instance_edges: the boundaries between instances, pix2pixHD's edge map."""

from __future__ import annotations

from p2phd import _native
from p2phd.ops.arrays import (
    ArrayLike,
    DTypeLike,
    as_batch,
    call_native,
    float_output_name,
    kind_of,
    prepare_output,
)


def instance_edges(
    instances: ArrayLike,
    dtype: DTypeLike = "float32",
    *,
    out: ArrayLike | None = None,
    threads: int | None = None,
) -> ArrayLike:
    """[N x] H x W ids -> [N x] 1 x H x W, 1 where a 4-neighbour has another id, else 0."""
    kind = kind_of(instances)
    instances, single = as_batch(instances, "instances", 2)
    n, h, w = instances.shape
    out, result = prepare_output(kind, (n, 1, h, w), float_output_name(dtype), out, single)
    call_native(_native.instance_edges, kind, instances, out, threads=threads)
    return result
