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
    call_native_checked,
    kind_of,
    name_of_dtype,
    prepare_output,
)


def instance_broadcast(
    instances: ArrayLike, ids: ArrayLike, table: ArrayLike,
    *, out: ArrayLike | None = None, check: bool = True, threads: int | None = None,
) -> ArrayLike:  # fmt: skip
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
    call_native_checked(
        _native.instance_broadcast, kind, instances, ids, table, out, workspace,
        threads=threads, check=check,
    )  # fmt: skip
    return result
