# SPDX-License-Identifier: Apache-2.0
"""The generator in PyTorch, on CPU or CUDA, in FP32, FP16 or BF16.

On CUDA the generator of each input buffer is captured once as a CUDA graph and replayed:
one launch instead of a few hundred, and no allocation after the first render of a shape.
"""

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
        # (input pointer, shape) -> (graph, its output); one entry, for the current shape.
        self._graph: tuple[tuple[int, tuple[int, ...]], torch.cuda.CUDAGraph, torch.Tensor] | None
        self._graph = None
        if device.type == "cuda":
            # Fixed shapes are the rule here, so cuDNN's search for the fastest kernels pays.
            torch.backends.cudnn.benchmark = True

    def generate(self, generator_input: torch.Tensor) -> torch.Tensor:
        """N x input_nc x H x W (input_dtype, on device) -> N x 3 x H x W in [-1, 1].

        On CUDA the result lives in the graph's memory and is overwritten by the next call
        with the same input buffer: copy it to keep it."""
        if self.device.type != "cuda":
            with torch.inference_mode():
                return self.generator(generator_input)
        key = (generator_input.data_ptr(), tuple(generator_input.shape))
        if self._graph is None or self._graph[0] != key:
            self._graph = None  # frees the previous shape's graph memory first
            self._graph = (key, *self._capture(generator_input))
        _, graph, output = self._graph
        graph.replay()
        return output

    def _capture(self, generator_input: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(2):  # cuDNN picks its algorithms outside the capture
                self.generator(generator_input)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.inference_mode():
            output = self.generator(generator_input)
        return graph, output
