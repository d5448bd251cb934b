# SPDX-License-Identifier: Apache-2.0
"""instance_broadcast: one row of a table per instance, spread over its pixels (the
cluster features of a feature model)."""

from __future__ import annotations

from p2phd import _native
from p2phd.ops.arrays import (
    FLOAT_NAMES,
    ArrayLike,
    as_batch,
    as_contiguous,
    kind_of,
    name_of_dtype,
    native_array,
    prepare_output,
    raise_on_error,
    thread_count,
)


def instance_broadcast(
    instances: ArrayLike,
    ids: ArrayLike,
    table: ArrayLike,
    *,
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """[N x] H x W ids, M ids, M x K table -> [N x] K x H x W: the pixels of instance ids[j] get
    table[j], pixels of ids not listed get zeros. The output has the table's dtype."""
    kind = kind_of(instances, ids, table)
    instances, single = as_batch(instances, "instances", 2)
    ids = as_contiguous(ids)
    table = as_contiguous(table)
    n, h, w = instances.shape
    if table.ndim != 2:
        raise ValueError(f"table must be M x K, got shape {tuple(table.shape)}")
    if name_of_dtype(table.dtype) not in FLOAT_NAMES:
        raise ValueError(f"table must be one of {', '.join(FLOAT_NAMES)}, got {table.dtype}")
    out, result = prepare_output(
        kind, (n, table.shape[1], h, w), name_of_dtype(table.dtype), out, single
    )
    workspace = kind.empty((_native.instance_broadcast_workspace_bytes(ids.shape[0]),), "uint8")
    status = kind.zeros((2,), "int64")
    _native.instance_broadcast(
        native_array(instances, kind),
        native_array(ids, kind),
        native_array(table, kind),
        native_array(out, kind),
        native_array(workspace, kind),
        native_array(status, kind),
        thread_count(threads),
        kind.stream,
    )
    raise_on_error(status, check)
    return result
