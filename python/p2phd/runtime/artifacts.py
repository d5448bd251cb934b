# SPDX-License-Identifier: Apache-2.0
"""Which backend runs an exported file (ONNX, OpenVINO IR, TorchScript, TensorRT engine)."""

from __future__ import annotations

from pathlib import Path

import torch

from p2phd.runtime.devices import resolve_device
from p2phd.runtime.onnx_backend import OnnxBackend, onnx_device
from p2phd.runtime.tensorrt_backend import TensorRTBackend
from p2phd.runtime.torchscript_backend import TorchScriptBackend

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
SUFFIXES = (".onnx", ".xml", ".pt", *ENGINE_SUFFIXES)


def artifact_backend(path: Path, backend: str, device: str | torch.device) -> str:
    """The backend that runs an exported file: what was asked, or for "auto" OpenVINO on the
    CPU (an ONNX file where no GPU is asked for, OpenVINO IR), else the artifact's own."""
    if path.suffix in ENGINE_SUFFIXES:
        kinds = ("tensorrt",)
    elif path.suffix == ".pt":
        kinds = ("torchscript",)
    elif path.suffix == ".xml":
        kinds = ("openvino",)
    else:
        # "auto" as on every backend: the GPU where there is one, else the CPU.
        auto_cpu = device == "auto" and not torch.cuda.is_available()
        on_cpu = auto_cpu or (device != "auto" and torch.device(device).type == "cpu")
        kinds = ("openvino", "onnxruntime") if on_cpu else ("onnxruntime", "openvino")
    if backend == "auto":
        return kinds[0]
    if backend not in kinds:
        raise ValueError(f"{path.name} runs on the {' or '.join(kinds)} backend, not {backend!r}")
    if backend == "openvino" and device not in ("auto", "cpu"):
        raise ValueError(f"the openvino backend renders on the CPU, not on {device}")
    return backend


def exported_backend(
    path: Path, kind: str, device: str | torch.device, sidecar: dict | None
) -> OnnxBackend | TensorRTBackend | TorchScriptBackend:
    if kind == "tensorrt":
        # The backend itself explains that an engine needs a GPU when there is none.
        return TensorRTBackend(path, torch.device("cuda" if device == "auto" else device))
    if kind == "torchscript":
        assert sidecar is not None
        return TorchScriptBackend(path, resolve_device(device), sidecar)
    return OnnxBackend(path, resolve_device(onnx_device(device)))
