# SPDX-License-Identifier: Apache-2.0
"""An exported ONNX generator in onnxruntime (CUDA where its provider is installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from p2phd.extras import require
from p2phd.runtime.map_feeds import Maps, map_feeds

_ONNX_TYPES = {"tensor(float)": torch.float32, "tensor(float16)": torch.float16}


def onnx_device(device: str | torch.device) -> str | torch.device:
    """`device`, with "auto" made "cuda" where a GPU and onnxruntime's CUDA provider are
    both there, else "cpu": the rule of every backend (CUDA when the backend can use it)."""
    if device != "auto":
        return device
    if not torch.cuda.is_available():
        return "cpu"
    onnxruntime = require("onnxruntime")
    return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"


class OnnxBackend:
    name = "onnxruntime"

    def __init__(self, path: Path, device: torch.device) -> None:
        onnxruntime = require("onnxruntime")
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise RuntimeError(
                    "onnxruntime has no CUDA provider here: install onnxruntime-gpu, or use "
                    "device='cpu'"
                )
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types
            raise ValueError(f"{path}: not a model onnxruntime can load ({error})") from error
        self.device = device
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        # An ONNX exported with its preprocessing takes the raw maps and returns uint8 RGB.
        self.takes_maps = "labels" in self.input_names
        self.generates = not self.takes_maps  # generate() returns the float image
        first = self.session.get_inputs()[0]
        self.input_dtype = _ONNX_TYPES.get(first.type, torch.float32)
        self.precision = "fp16" if self.input_dtype == torch.float16 else "fp32"

    def _run(self, feeds: dict[str, torch.Tensor]) -> torch.Tensor:
        arrays = {name: tensor.detach().cpu().numpy() for name, tensor in feeds.items()}
        try:
            (result,) = self.session.run(self.output_names[:1], arrays)
        except Exception as error:  # onnxruntime raises its own types (InvalidArgument ...)
            raise RuntimeError(f"onnxruntime failed to run the model: {error}") from error
        return torch.from_numpy(np.ascontiguousarray(result)).to(self.device)

    def generate(self, generator_input: torch.Tensor) -> torch.Tensor:
        return self._run({self.input_names[0]: generator_input})

    def render_maps(self, maps: Maps) -> torch.Tensor:
        """labels (+ instances, + features) -> N x H x W x 3 uint8, all inside the graph."""
        return self._run(map_feeds(self.input_names, maps))
