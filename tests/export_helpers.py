# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the export tests: tiny generators (ngf 4-8, one residual block, 64x128)
so that every export runs in seconds on two cores, and readers of ONNX files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from p2phd import ops
from p2phd.checkpoint import LoadedModel
from p2phd.export import verify
from p2phd.models.config import GeneratorConfig
from p2phd.models.generator import build_generator

SIZE = (64, 128)
GLOBAL = GeneratorConfig(netG="global", ngf=8, n_downsample_global=2, n_blocks_global=1)
LOCAL = GeneratorConfig(
    netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1
)
FEATURES = GeneratorConfig(
    netG="global", ngf=8, n_downsample_global=2, n_blocks_global=1, instance_feat=True
)


def tensorrt_rtx():
    """TensorRT for RTX's module, or None."""
    for name in ("tensorrt_rtx", "tensorrt_rtx_bindings"):
        try:
            return __import__(name)
        except ImportError:
            pass
    return None


TRT_RTX = tensorrt_rtx()
needs_rtx = pytest.mark.skipif(
    TRT_RTX is None,
    reason="TensorRT for RTX not installed (pip install tensorrt-rtx-cu13-bindings "
    "tensorrt-rtx-cu13-libs)",
)


def tiny(config: GeneratorConfig, seed: int = 0, clusters=None) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel(config=config, generator=build_generator(config).eval(), clusters=clusters)


def tiny_clusters(config: GeneratorConfig, seed: int = 0) -> dict[int, np.ndarray]:
    """Three centres for each class that the synthetic scenes give instances."""
    rng = np.random.default_rng(seed)
    return {c: rng.normal(size=(3, config.feat_num)).astype(np.float32) for c in (24, 26, 33)}


def scene(config: GeneratorConfig, batch: int = 1, size=SIZE, seed: int = 3):
    """int32 labels, instances (N x H x W tensors) and float32 random per-instance features."""
    sample = verify.make_sample(config, verify.synthetic_maps(config, batch, size, seed), None)
    return sample.labels, sample.instances, sample.features


def torch_output(model: LoadedModel, labels, instances, features=None) -> torch.Tensor:
    x = ops.generator_input(
        labels,
        instances if model.config.use_instance else None,
        model.config.label_nc,
        features=features,
    )
    with torch.inference_mode():
        return model.generator(x)


def onnx_io(path) -> tuple[list[dict], list[dict]]:
    """Sidecar-style description of an ONNX graph's inputs and outputs."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    names = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}
    names |= {onnx.TensorProto.INT32: "int32", onnx.TensorProto.UINT8: "uint8"}

    def describe(value) -> dict:
        tensor = value.type.tensor_type
        shape = [d.dim_param if d.dim_param else d.dim_value for d in tensor.shape.dim]
        return {"name": value.name, "dtype": names[tensor.elem_type], "shape": shape}

    return [describe(v) for v in graph.input], [describe(v) for v in graph.output]


def run_onnx(path, **feeds) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.asarray(v) for k, v in feeds.items()})[0]
