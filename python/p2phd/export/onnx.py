# SPDX-License-Identifier: Apache-2.0
"""ONNX artifacts: export through torch.onnx (opset >= 17), and running them in onnxruntime."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from p2phd import __version__
from p2phd.artifact_io import Shapes, TensorSpec
from p2phd.extras import require
from p2phd.runtime.openvino_models import onnx_bytes


def export_onnx(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    shapes: Shapes,
    opset: int,
    metadata: Mapping[str, str],
) -> None:
    """Export `module` with IO names and shapes from the specs, `metadata` as metadata_props."""
    onnx = require("onnx")

    # Always traced with dynamic axes, so that nothing of the (small) trace size is folded
    # into the graph; a fixed-shape export then pins its IO dims below.
    model = onnx.load_model_from_string(onnx_bytes(module, example, inputs, outputs, opset))
    # The exporter's shape inference loses track through the reflection pads and names
    # output dims like 'Tanhoutput_dim_0' (even for fixed shapes, and the same name for batch
    # and height): state the IO shapes we know, and drop its intermediate guesses.
    del model.graph.value_info[:]
    for value, tensor in zip(
        (*model.graph.input, *model.graph.output), (*inputs, *outputs), strict=True
    ):
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for d in tensor.describe(shapes)["shape"]:
            dim = dims.add()
            if isinstance(d, str):
                dim.dim_param = d
            else:
                dim.dim_value = d
    model.producer_name = "p2phd"
    model.producer_version = __version__
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    onnx.checker.check_model(str(path), full_check=True)


def run_onnxruntime(path: Path, named: Mapping[str, torch.Tensor]) -> np.ndarray:
    """The first output of the ONNX at `path` on the CPU, fed by input name."""
    ort = require("onnxruntime")

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {name: value.numpy() for name, value in named.items()}
    return session.run(None, feeds)[0]
