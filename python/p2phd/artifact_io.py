# SPDX-License-Identifier: Apache-2.0
"""The inputs and outputs of an artifact, as its sidecar lists them: each tensor's name,
dtype and layout, and the batch and sizes of the export. Below both the runtime (which checks
a sidecar against them) and export (which writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p2phd.models.config import GeneratorConfig


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
