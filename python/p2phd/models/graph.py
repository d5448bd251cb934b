# SPDX-License-Identifier: Apache-2.0
"""The modules that are traced into artifacts: the generator in FP16, the in-graph one-hot
and edges, and the uint8 conversion.

FP16 exports hold float16 weights and activations, except that every InstanceNormalization
runs in float32 between two casts: its variance sums squares of activations that can exceed
the float16 range (65504) in deep layers, and the casts are cheap next to the convolutions.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from p2phd.models.config import GeneratorConfig

# The ONNX opset that exports and the OpenVINO conversion trace these graphs with.
ONNX_OPSET = 17


class Float32InstanceNorm(nn.Module):
    """InstanceNorm2d (no affine, no running stats) computed in float32 whatever the input."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x.float(), eps=self.eps).to(x.dtype)


def half_generator(generator: nn.Module) -> nn.Module:
    """A float16 copy whose instance norms run in float32."""
    half = copy.deepcopy(generator).half().eval()
    for module in list(half.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.InstanceNorm2d):
                if child.affine or child.track_running_stats:
                    raise ValueError("only InstanceNorm2d without affine/stats is supported")
                setattr(module, name, Float32InstanceNorm(child.eps))
    return half


class GeneratorInput(nn.Module):
    """In-graph `ops.generator_input`: one-hot (Equal against a range), edges, features.

    labels, instances: int32 N x H x W; features: N x K x H x W. Exports to Equal, Cast,
    Slice, Not, Or, Pad and Concat only.
    """

    def __init__(self, config: GeneratorConfig, dtype: torch.dtype) -> None:
        super().__init__()
        self.label_nc = config.label_nc
        self.use_instance = config.use_instance
        self.feature_nc = config.feature_nc
        self.dtype = dtype
        classes = torch.arange(config.label_nc, dtype=torch.int32).view(1, -1, 1, 1)
        self.register_buffer("classes", classes, persistent=False)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        labels, rest = inputs[0], list(inputs[1:])
        parts = [(labels.unsqueeze(1) == self.classes).to(self.dtype)]
        if self.use_instance:
            ids = rest.pop(0).unsqueeze(1)
            horizontal = ids[:, :, :, 1:] != ids[:, :, :, :-1]  # N x 1 x H x W-1
            vertical = ids[:, :, 1:, :] != ids[:, :, :-1, :]  # N x 1 x H-1 x W
            edges = (
                F.pad(horizontal, (1, 0))
                | F.pad(horizontal, (0, 1))
                | F.pad(vertical, (0, 0, 1, 0))
                | F.pad(vertical, (0, 0, 0, 1))
            )
            parts.append(edges.to(self.dtype))
        if self.feature_nc:
            parts.append(rest.pop(0).to(self.dtype))
        return torch.cat(parts, dim=1)


class ToUint8Image(nn.Module):
    """In-graph `ops.to_uint8_image`: N x 3 x H x W -> uint8 N x H x W x 3, the cast last."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        t = (y.float() + 1) / 2
        # A scalar 0, not zeros_like: simplifiers fold a full-size zeros tensor into a
        # constant as large as the image.
        t = torch.where(torch.isnan(t), 0.0, t).clamp(0, 1)
        t = torch.round(t * 255).permute(0, 2, 3, 1)
        return t.to(torch.uint8)


class PreprocessedGenerator(nn.Module):
    """labels (+ instances) (+ features) -> uint8 image, all in one graph."""

    def __init__(self, generator: nn.Module, config: GeneratorConfig, dtype: torch.dtype) -> None:
        super().__init__()
        self.prepare = GeneratorInput(config, dtype)
        self.generator = generator
        self.finish = ToUint8Image()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.finish(self.generator(self.prepare(*inputs)))


def traced_module(
    generator: nn.Module, config: GeneratorConfig, precision: str, with_preprocess: bool
) -> nn.Module:
    """What an export traces: the generator (in FP16 for fp16), with its pre/postprocessing."""
    if precision == "fp16":
        generator = half_generator(generator)
    dtype = torch.float16 if precision == "fp16" else torch.float32
    if with_preprocess:
        return PreprocessedGenerator(generator, config, dtype).eval()
    return generator.eval()
