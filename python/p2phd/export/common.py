# SPDX-License-Identifier: Apache-2.0
"""What every artifact kind shares: errors, shapes, IO tensor descriptions, atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from p2phd import __version__
from p2phd.models.config import GeneratorConfig

FORMATS = ("torchscript", "onnx", "engine", "openvino")
PRECISIONS = ("fp32", "fp16")
OPSET = 17
DEFAULT_SIZE = (1024, 2048)
EXTENSIONS = {"torchscript": ".pt", "onnx": ".onnx", "engine": ".engine", "openvino": ".xml"}

Progress = Callable[[str], None]


class ExportError(RuntimeError):
    """An export that failed: a missing tool, a builder error, a failed verification."""


class ExportUsageError(ExportError, ValueError):
    """Arguments that cannot describe an export (a size off the stride, an unknown format)."""


def silent(_: str) -> None:
    """A progress callback that says nothing."""


@dataclass(frozen=True)
class Shapes:
    """The batch and sizes of an export: fixed, or a dynamic range."""

    batch: int  # fixed batch, or the largest batch of a dynamic export
    size: tuple[int, int]  # fixed size, or the optimum of a dynamic export
    dynamic: bool
    min_size: tuple[int, int]
    max_size: tuple[int, int]

    def shape_range(self) -> dict[str, list[int]] | None:
        if not self.dynamic:
            return None
        return {
            "min": [1, *self.min_size],
            "opt": [1, *self.size],
            "max": [self.batch, *self.max_size],
        }


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an artifact: name, dtype and layout."""

    name: str
    dtype: str
    layout: str  # "nchw", "nhw", "nhwc"
    channels: int | None = None

    def shape(self, n: Any, h: Any, w: Any) -> list[Any]:
        if self.layout == "nchw":
            return [n, self.channels, h, w]
        if self.layout == "nhwc":
            return [n, h, w, self.channels]
        return [n, h, w]

    def dynamic_axes(self) -> dict[int, str]:
        if self.layout == "nchw":
            return {0: "batch", 2: "height", 3: "width"}
        return {0: "batch", 1: "height", 2: "width"}

    def describe(self, shapes: Shapes) -> dict[str, Any]:
        """The sidecar entry: name, dtype and shape (dynamic axes named)."""
        if shapes.dynamic:
            shape = self.shape("batch", "height", "width")
        else:
            shape = self.shape(shapes.batch, *shapes.size)
        return {"name": self.name, "dtype": self.dtype, "shape": shape}


def io_tensors(
    config: GeneratorConfig, precision: str, with_preprocess: bool
) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The inputs and outputs of a plain or an end-to-end (`with_preprocess`) graph."""
    if not with_preprocess:
        dtype = "float16" if precision == "fp16" else "float32"
        return (
            [TensorSpec("input", dtype, "nchw", config.input_nc)],
            [TensorSpec("output", dtype, "nchw", config.output_nc)],
        )
    inputs = [TensorSpec("labels", "int32", "nhw")]
    if config.use_instance:
        inputs.append(TensorSpec("instances", "int32", "nhw"))
    if config.feature_nc:
        inputs.append(TensorSpec("features", "float32", "nchw", config.feature_nc))
    return inputs, [TensorSpec("image", "uint8", "nhwc", config.output_nc)]


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


@contextlib.contextmanager
def temporary(path: Path) -> Iterator[Path]:
    """A temp name beside `path` that is removed unless the caller renamed it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would follow the file into place
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` under a temporary name, then rename it into place."""
    with temporary(path) as tmp:
        tmp.write_bytes(data)
        os.replace(tmp, path)


def weights_sha256(generator: nn.Module) -> str:
    """sha256 over the generator state dict: key, dtype, shape and bytes, in key order."""
    digest = hashlib.sha256()
    state = generator.state_dict()
    for key in sorted(state):
        value = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{value.dtype}|{list(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def trt_module_name(trt: Any) -> str:
    """'tensorrt' (full TensorRT) or 'tensorrt_rtx' (TensorRT for RTX, whatever its import)."""
    return "tensorrt" if trt.__name__ == "tensorrt" else "tensorrt_rtx"


def versions(trt_module: Any = None) -> dict[str, str | None]:
    """Versions of what made the artifact (the TensorRT module by its import name)."""
    try:
        import onnx

        onnx_version: str | None = onnx.__version__
    except ImportError:
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
