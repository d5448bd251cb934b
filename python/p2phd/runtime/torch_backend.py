# SPDX-License-Identifier: Apache-2.0
"""The generator in PyTorch, on CPU or CUDA, in FP32, FP16 or BF16."""

from __future__ import annotations

import torch
from torch import nn

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend:
    name = "torch"
    takes_maps = False  # it takes the generator input, which the Runtime builds

    def __init__(self, generator: nn.Module, device: torch.device, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.device = device
        self.precision = precision
        self.input_dtype = PRECISIONS[precision]
        self.generator = generator.eval().requires_grad_(False).to(device, self.input_dtype)

    def generate(self, generator_input: torch.Tensor) -> torch.Tensor:
        """N x input_nc x H x W (input_dtype, on device) -> N x 3 x H x W in [-1, 1]."""
        with torch.inference_mode():
            return self.generator(generator_input)
