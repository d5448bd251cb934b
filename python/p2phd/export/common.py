# SPDX-License-Identifier: Apache-2.0
"""What every artifact kind shares: errors, sizes, versions, atomic writes (the IO tensors
and shapes of an artifact are p2phd.artifact_io's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from p2phd import __version__
from p2phd.artifact_io import Shapes
from p2phd.extras import MissingExtra, require
from p2phd.models.config import GeneratorConfig
from p2phd.models.graph import ONNX_OPSET

FORMATS = ("torchscript", "onnx", "engine", "openvino")
PRECISIONS = ("fp32", "fp16")
OPSET = ONNX_OPSET
DEFAULT_SIZE = (1024, 2048)
EXTENSIONS = {"torchscript": ".pt", "onnx": ".onnx", "engine": ".engine", "openvino": ".xml"}

Progress = Callable[[str], None]


class ExportError(RuntimeError):
    """An export that failed: a missing tool, a builder error, a failed verification."""


class ExportUsageError(ExportError, ValueError):
    """Arguments that cannot describe an export (a size off the stride, an unknown format)."""


def silent(_: str) -> None:
    """A progress callback that says nothing."""


def round_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """The nearest size of multiples of `stride`, at least two strides."""
    return tuple(max(2 * stride, stride * round(s / stride)) for s in size)  # type: ignore[return-value]


def check_size(size: tuple[int, int], stride: int, what: str) -> tuple[int, int]:
    """`size` as ints, or ExportUsageError when the generator cannot take it."""
    h, w = (int(s) for s in size)
    if h % stride or w % stride:
        raise ExportUsageError(
            f"{what} {h}x{w} is not a multiple of the generator's stride {stride} in both "
            f"height and width (try {round_size((h, w), stride)[0]}x"
            f"{round_size((h, w), stride)[1]})"
        )
    if h < 2 * stride or w < 2 * stride:
        raise ExportUsageError(
            f"{what} {h}x{w} is too small: the generator needs at least {2 * stride} pixels "
            "in each direction (two pixels at its coarsest scale)"
        )
    return h, w


def resolve_shapes(
    config: GeneratorConfig,
    size: tuple[int, int] | None,
    dynamic: bool,
    batch: int,
    min_size: tuple[int, int] | None,
    max_size: tuple[int, int] | None,
) -> Shapes:
    """Check the size arguments of an export against the generator's stride."""
    stride = config.downsampling
    if batch < 1:
        raise ExportUsageError(f"batch must be >= 1, got {batch}")
    if size is None:
        size = round_size(DEFAULT_SIZE, stride)
    size = check_size(size, stride, "size")
    if not dynamic:
        if min_size is not None or max_size is not None:
            raise ExportUsageError("min_size and max_size need dynamic=True")
        return Shapes(batch, size, False, size, size)
    lo = check_size(min_size, stride, "min size") if min_size else (2 * stride, 2 * stride)
    hi = check_size(max_size, stride, "max size") if max_size else size
    if not (lo[0] <= size[0] <= hi[0] and lo[1] <= size[1] <= hi[1]):
        raise ExportUsageError(
            f"need min size {lo[0]}x{lo[1]} <= size {size[0]}x{size[1]} <= max size {hi[0]}x{hi[1]}"
        )
    return Shapes(batch, size, True, lo, hi)


def trt_module_name(trt: Any) -> str:
    """'tensorrt' (full TensorRT) or 'tensorrt_rtx' (TensorRT for RTX, whatever its import)."""
    return "tensorrt" if trt.__name__ == "tensorrt" else "tensorrt_rtx"


def versions(trt_module: Any = None) -> dict[str, str | None]:
    """Versions of what made the artifact (the TensorRT module by its import name)."""
    try:
        onnx_version: str | None = require("onnx").__version__
    except MissingExtra:
        onnx_version = None
    return {
        "p2phd": __version__,
        "torch": torch.__version__,
        "onnx": onnx_version,
        "tensorrt": None if trt_module is None else trt_module.__version__,
        "tensorrt_module": None if trt_module is None else trt_module_name(trt_module),
    }


def describe_shapes(shapes: Shapes) -> str:
    """'1x1024x2048', or the dynamic range."""
    if not shapes.dynamic:
        return f"{shapes.batch}x{shapes.size[0]}x{shapes.size[1]}"
    rng = shapes.shape_range()
    assert rng is not None
    return "dynamic " + " / ".join(f"{k} {v[0]}x{v[1]}x{v[2]}" for k, v in rng.items())
