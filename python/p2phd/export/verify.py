# SPDX-License-Identifier: Apache-2.0
"""Verification of an artifact against exact math.

Truth is the torch generator in float64 on the same input. FP32 and FP16 runs differ from it
by rounding alone, by different amounts in different runtimes (onnxruntime's CPU
InstanceNormalization, for one, sums in float32 and lands ~1e-2 away on 1024 x 2048), so an
artifact is not held to a fixed bound but to the error that torch itself makes at the same
precision on the same input:

    float output:  rms(artifact - truth) <= factor * rms(torch - truth) + floor_rms
                   max|artifact - truth| <= factor * max|torch - truth| + floor_max
    uint8 output:  the same on uint8 levels, and the share of uint8 values more than one
                   level from truth's <= factor * torch's share + floor_share

(defaults: factor 10, floors in FLOORS). A broken export (a wrong weight, swapped input
channels, a missing edge map) is off by 1e-2 .. 1 in RMS and moves 10-90 % of the pixels by
more than a level, far beyond either side.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from p2phd import ops
from p2phd.artifact_io import TensorSpec
from p2phd.export.common import (
    ExportError,
)
from p2phd.models.config import GeneratorConfig
from p2phd.models.graph import half_generator

if TYPE_CHECKING:
    from p2phd.export.int8 import ScoreVerification

DEFAULT_FACTOR = 10.0


@dataclass(frozen=True)
class Floor:
    """Errors an artifact may have whatever torch's own error (output units)."""

    rms: float
    max_abs: float
    share: float  # of uint8 values more than one level from truth


# Float outputs in [-1, 1]; uint8 outputs in levels. FP32: 1e-3 RMS is 66 dB PSNR, where
# onnxruntime on 1024 x 2048 lands; FP16 rounds 8x coarser. On uint8 images one level off
# is rounding (onnxruntime moves 3.5 % of the demo's values at 1024 x 2048, an RMS of 0.19
# levels): the RMS floor lets a quarter of them move, the share rule catches the rest.
FLOORS = {
    ("fp32", False): Floor(rms=1e-3, max_abs=0.05, share=0.001),
    ("fp16", False): Floor(rms=4e-3, max_abs=0.1, share=0.005),
    ("fp32", True): Floor(rms=0.5, max_abs=4, share=0.001),
    ("fp16", True): Floor(rms=1.0, max_abs=8, share=0.005),
}


class VerificationError(ExportError):
    """The artifact ran but is further from float64 truth than the rule allows."""

    def __init__(self, message: str, verification: Verification | ScoreVerification) -> None:
        super().__init__(message)
        self.verification = verification


@dataclass(frozen=True)
class Errors:
    """One output's distance from truth."""

    max_abs: float  # output units: [-1, 1] floats or uint8 levels
    rms: float  # output units
    psnr_db: float  # on the image scaled to [0, 1]; inf when identical
    share_differ: float  # of uint8 values (after the uint8 conversion) unlike truth's
    share_over_one: float  # of uint8 values more than one level from truth's

    def describe(self) -> str:
        return (
            f"max abs {self.max_abs:.3g}, PSNR {self.psnr_db:.1f} dB, uint8 values differing "
            f"{self.share_differ:.3%} (by >1 level {self.share_over_one:.3%})"
        )


@dataclass
class Verification:
    """One artifact against float64 truth, beside torch at the artifact's precision."""

    stage: str  # "torchscript", "onnx" or "engine": the artifact that ran
    backend: str  # "torch", "onnxruntime" or "tensorrt"
    skipped: str | None = None  # why it did not run; None when it ran
    artifact: Errors | None = None
    torch: Errors | None = None
    precision: str = "fp32"
    rule: str = ""
    passed: bool | None = None

    def describe(self) -> str:
        head = f"verify {self.stage} ({self.backend})"
        if self.skipped is not None:
            return f"{head}: skipped ({self.skipped})"
        assert self.artifact is not None and self.torch is not None
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"{head} against float64 torch: {self.artifact.describe()}; torch {self.precision}: "
            f"{self.torch.describe()}; rule: {self.rule}: {verdict}"
        )


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@dataclass
class Sample:
    """Maps and features of a batch, with the generator input they make."""

    labels: torch.Tensor  # int32 N x H x W
    instances: torch.Tensor  # int32 N x H x W
    features: torch.Tensor | None  # float32 N x feat_num x H x W
    x: torch.Tensor  # float32 generator input

    def feeds(self, inputs: Sequence[TensorSpec]) -> dict[str, torch.Tensor]:
        """The artifact's inputs by name."""
        named: dict[str, torch.Tensor] = {}
        for tensor in inputs:
            if tensor.name == "labels":
                named["labels"] = self.labels
            elif tensor.name == "instances":
                named["instances"] = self.instances
            elif tensor.name == "features":
                assert self.features is not None
                named["features"] = self.features
            else:
                dtype = torch.float16 if tensor.dtype == "float16" else torch.float32
                named[tensor.name] = self.x.to(dtype)
        return named


def synthetic_maps(
    config: GeneratorConfig, batch: int, size: tuple[int, int], seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Synthetic street scenes cropped to `size`, labels folded into [0, label_nc)."""
    from p2phd.data.synthetic import synthetic_scene

    maps = []
    for i in range(batch):
        scene = synthetic_scene(seed + i, max(size[0], 16), max(size[1], 16))
        labels = scene.labels[: size[0], : size[1]].astype(np.int32) % config.label_nc
        maps.append((labels, scene.instances[: size[0], : size[1]].astype(np.int32)))
    return maps


def make_sample(
    config: GeneratorConfig,
    maps: Sequence[tuple[np.ndarray, np.ndarray]],
    clusters: Mapping[int, np.ndarray] | None,
    seed: int = 0,
) -> Sample:
    """A batch of (labels, instances) maps with features like a Runtime's: cluster centres
    drawn with `seed`, or where the model has no clusters a random vector per instance."""
    from p2phd.runtime.features import cluster_features

    labels = torch.from_numpy(np.stack([np.asarray(m[0], np.int32) for m in maps]))
    instances = torch.from_numpy(np.stack([np.asarray(m[1], np.int32) for m in maps]))
    features = None
    if config.feature_nc:
        if clusters:
            features = cluster_features(instances, clusters, config.feat_num, seed=seed)
        else:
            generator = torch.Generator().manual_seed(seed)
            ids, inverse = torch.unique(instances, return_inverse=True)
            table = torch.randn(ids.numel(), config.feature_nc, generator=generator)
            features = table[inverse].permute(0, 3, 1, 2).contiguous()
    x = ops.generator_input(
        labels, instances if config.use_instance else None, config.label_nc, features=features
    )
    return Sample(labels, instances, features, x)


# --------------------------------------------------------------------------------------------
# Truth and torch at the artifact's precision
# --------------------------------------------------------------------------------------------


# Bytes of the unfolded input that one float64 convolution call may build.
_UNFOLD_BUDGET = 256 << 20


class _Float64Conv2d(nn.Module):
    """Conv2d in float64, a band of output rows at a time: torch's float64 CPU convolution
    unfolds its whole input first (32 GB for a 7x7 layer at 1024 x 2048)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros":
            raise ExportError(f"float64 truth does not handle {conv}")
        self.weight = conv.weight.detach().double()
        self.bias = None if conv.bias is None else conv.bias.detach().double()
        self.stride = conv.stride
        self.padding = conv.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (sh, sw), (ph, pw) = self.stride, self.padding
        x = F.pad(x, (pw, pw, ph, ph))
        n, c_in, h, w = x.shape
        _, _, kh, kw = self.weight.shape
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
        rows = max(1, _UNFOLD_BUDGET // (8 * n * c_in * kh * kw * wo))
        bands = []
        for top in range(0, ho, rows):
            bottom = min(ho, top + rows)
            band = x[:, :, top * sh : (bottom - 1) * sh + kh]
            bands.append(F.conv2d(band, self.weight, self.bias, stride=(sh, sw)))
        return torch.cat(bands, dim=2)


class _Float64ConvTranspose2d(nn.Module):
    """ConvTranspose2d in float64, a band of input rows at a time, overlaps summed."""

    def __init__(self, conv: nn.ConvTranspose2d) -> None:
        super().__init__()
        if conv.groups != 1 or conv.dilation != (1, 1):
            raise ExportError(f"float64 truth does not handle {conv}")
        self.weight = conv.weight.detach().double()  # C_in x C_out x kh x kw
        self.bias = None if conv.bias is None else conv.bias.detach().double()
        self.stride, self.padding = conv.stride, conv.padding
        self.output_padding = conv.output_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (sh, sw), (ph, pw), (oph, opw) = self.stride, self.padding, self.output_padding
        n, _, hi, wi = x.shape
        _, c_out, kh, kw = self.weight.shape
        # Without padding, input rows [a, b) land on output rows [a * sh, (b - 1) * sh + kh).
        full = x.new_zeros(n, c_out, (hi - 1) * sh + kh + oph, (wi - 1) * sw + kw + opw)
        rows = max(1, _UNFOLD_BUDGET // (8 * n * c_out * kh * kw * wi))
        for top in range(0, hi, rows):
            bottom = min(hi, top + rows)
            band = F.conv_transpose2d(x[:, :, top:bottom], self.weight, stride=(sh, sw))
            full[:, :, top * sh : top * sh + band.shape[2], : band.shape[3]] += band
        ho = (hi - 1) * sh - 2 * ph + kh + oph
        wo = (wi - 1) * sw - 2 * pw + kw + opw
        out = full[:, :, ph : ph + ho, pw : pw + wo]
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


def float64_generator(generator: nn.Module) -> nn.Module:
    """A float64 copy of `generator` whose convolutions fit in memory at any size."""
    exact = copy.deepcopy(generator).double().eval()
    for module in list(exact.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ConvTranspose2d):
                setattr(module, name, _Float64ConvTranspose2d(child))
            elif isinstance(child, nn.Conv2d):
                setattr(module, name, _Float64Conv2d(child))
    return exact


def exact_uint8(y: torch.Tensor) -> torch.Tensor:
    """`to_uint8_image` of a float64 output, in float64: N x H x W x 3 uint8."""
    t = torch.nan_to_num(((y + 1) / 2), nan=0.0).clamp(0, 1)
    return torch.round(t * 255).permute(0, 2, 3, 1).to(torch.uint8)


@dataclass
class References:
    """Truth (float64) and torch at the artifact's precision, float and uint8."""

    truth: torch.Tensor  # float64 N x 3 x H x W
    truth_uint8: torch.Tensor
    torch_float: torch.Tensor  # float64 copy of torch's output at the precision
    torch_uint8: torch.Tensor


def references(generator: nn.Module, x: torch.Tensor, precision: str) -> References:
    """Run the float64 truth and torch at `precision` (float32, or the FP16 graph) on x."""
    with torch.inference_mode():
        truth = float64_generator(generator)(x.double())
        if precision == "fp16":
            y = half_generator(generator)(x.half())
        else:
            y = generator.float().eval()(x.float())
    return References(truth, exact_uint8(truth), y.double(), ops.to_uint8_image(y.float()))


# --------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------


def _errors(
    got: np.ndarray, truth: np.ndarray, got_uint8: np.ndarray, truth_uint8: np.ndarray, scale: float
) -> Errors:
    diff = np.abs(got.astype(np.float64) - truth)
    diff = np.nan_to_num(diff, nan=np.inf)
    max_abs = float(diff.max()) if diff.size else 0.0
    rms = float(np.sqrt(np.mean(diff**2))) if diff.size else 0.0
    psnr = (
        math.inf if rms == 0 else 20 * math.log10(scale / rms) if math.isfinite(rms) else -math.inf
    )
    levels = np.abs(got_uint8.astype(np.int16) - truth_uint8.astype(np.int16))
    return Errors(
        max_abs,
        rms,
        psnr,
        float(np.mean(levels > 0)) if levels.size else 0.0,
        float(np.mean(levels > 1)) if levels.size else 0.0,
    )


def compare(
    stage: str,
    backend: str,
    got: np.ndarray,
    refs: References,
    precision: str,
    uint8_output: bool,
    factor: float = DEFAULT_FACTOR,
) -> Verification:
    """Apply the rule of this module to an artifact's output `got`."""
    floor = FLOORS[(precision, uint8_output)]
    if uint8_output:
        truth, truth_uint8 = refs.truth_uint8.numpy(), refs.truth_uint8.numpy()
        mine = refs.torch_uint8.numpy()
        torch_errors = _errors(mine, truth, mine, truth_uint8, 255.0)
        scale = 255.0
    else:
        truth, truth_uint8 = refs.truth.numpy(), refs.truth_uint8.numpy()
        torch_errors = _errors(
            refs.torch_float.numpy(), truth, refs.torch_uint8.numpy(), truth_uint8, 2.0
        )
        scale = 2.0
    rule = (
        f"rms <= {factor:g} x torch's + {floor.rms:g}, max abs <= {factor:g} x torch's + "
        f"{floor.max_abs:g}"
        + (f", share >1 level <= {factor:g} x torch's + {floor.share:.1%}" if uint8_output else "")
    )
    verification = Verification(stage, backend, precision=precision, rule=rule, torch=torch_errors)
    if tuple(got.shape) != tuple(truth.shape):
        verification.rule = f"shape {list(got.shape)} != {list(truth.shape)}"
        verification.artifact = Errors(math.inf, math.inf, -math.inf, 1.0, 1.0)
        verification.passed = False
        return verification
    if uint8_output:
        got_uint8 = got
    else:
        got_uint8 = ops.to_uint8_image(
            torch.from_numpy(np.ascontiguousarray(got, np.float32))
        ).numpy()
    errors = _errors(got, truth, got_uint8, truth_uint8, scale)
    verification.artifact = errors
    passed = (
        errors.rms <= factor * torch_errors.rms + floor.rms
        and errors.max_abs <= factor * torch_errors.max_abs + floor.max_abs
    )
    if uint8_output:
        passed = passed and (
            errors.share_over_one <= factor * torch_errors.share_over_one + floor.share
        )
    verification.passed = bool(passed)
    return verification
