# SPDX-License-Identifier: Apache-2.0
"""generator_input: the generator's whole input (one-hot, edges, features) in one pass."""

from __future__ import annotations

from p2phd import _native
from p2phd.ops.arrays import (
    ArrayLike,
    DTypeLike,
    as_batch,
    as_label_batch,
    call_native_checked,
    float_output_name,
    kind_of,
    prepare_output,
)
from p2phd.ops.layout import cast_to


def generator_input(
    labels: ArrayLike,
    instances: ArrayLike | None,
    label_nc: int,
    *,
    features: ArrayLike | None = None,
    dtype: DTypeLike = "float32",
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """The generator's input, written in one pass: one-hot (label_nc channels), then the
    instance-boundary channel when `instances` is given, then the K channels of `features`
    ([N x] K x H x W, cast to `dtype` first if needed)."""
    kind = kind_of(labels, instances, features)
    labels, single = as_label_batch(labels, label_nc)
    n, h, w = labels.shape
    out_dtype = float_output_name(dtype)
    channels = label_nc
    if instances is not None:
        instances, _ = as_batch(instances, "instances", 2)
        channels += 1
    if features is not None:
        features, _ = as_batch(features, "features", 3)
        features = cast_to(features, out_dtype, kind)
        channels += features.shape[1]
    out, result = prepare_output(kind, (n, channels, h, w), out_dtype, out, single)
    call_native_checked(
        _native.generator_input, kind, labels, instances, features, label_nc, out,
        threads=threads, check=check, label_nc=label_nc,
    )  # fmt: skip
    return result
