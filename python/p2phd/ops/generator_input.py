# SPDX-License-Identifier: Apache-2.0
"""generator_input: the generator's whole input (one-hot, edges, features) in one pass."""

from __future__ import annotations

from p2phd import _native
from p2phd.ops.arrays import (
    ArrayLike,
    DTypeLike,
    as_batch,
    float_output_name,
    kind_of,
    name_of_dtype,
    native_array,
    numpy_dtype_named,
    prepare_output,
    raise_on_error,
    require_positive,
    thread_count,
    torch_dtype_named,
)


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
    require_positive(label_nc, "label_nc")
    kind = kind_of(labels, instances, features)
    labels, single = as_batch(labels, "labels", 2)
    n, h, w = labels.shape
    out_dtype = float_output_name(dtype)
    channels = label_nc
    native_instances = None
    if instances is not None:
        instances, _ = as_batch(instances, "instances", 2)
        native_instances = native_array(instances, kind)
        channels += 1
    native_features = None
    if features is not None:
        features, _ = as_batch(features, "features", 3)
        if name_of_dtype(features.dtype) != out_dtype:
            features = (
                features.to(torch_dtype_named(out_dtype))
                if kind.is_torch
                else features.astype(numpy_dtype_named(out_dtype))
            )
        native_features = native_array(features, kind)
        channels += features.shape[1]
    out, result = prepare_output(kind, (n, channels, h, w), out_dtype, out, single)
    status = kind.zeros((2,), "int64")
    _native.generator_input(
        native_array(labels, kind),
        native_instances,
        native_features,
        label_nc,
        native_array(out, kind),
        native_array(status, kind),
        thread_count(threads),
        kind.stream,
    )
    raise_on_error(status, check, label_nc)
    return result
