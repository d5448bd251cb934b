# SPDX-License-Identifier: Apache-2.0
"""The generator in PyTorch, on CPU or CUDA, in FP32, FP16 or BF16.

On CUDA the generator of each input buffer is captured once as a CUDA graph and replayed:
one launch instead of a few hundred, and no allocation after the first render of a shape.
Capture and replays run on the backend's own stream on its device (runtime.devices).
"""

from __future__ import annotations

import torch
from torch import nn

from p2phd.runtime.devices import DeviceStream, cudnn_autotuning, require_kernels
from p2phd.runtime.onednn import onednn_available, route_convolutions_to_onednn

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend:
    name = "torch"
    takes_maps = False  # it takes the generator input, which the Runtime builds

    def __init__(self, generator: nn.Module, device: torch.device, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        require_kernels(device)  # the Runtime builds this backend's input with p2phd's ops
        self.device = device
        self.stream = DeviceStream(device)
        self.precision = precision
        self.input_dtype = PRECISIONS[precision]
        self.generator = generator.eval().requires_grad_(False).to(device, self.input_dtype)
        # Bytes that depend on the map alone, not on the batch, the call or the process.
        self.onednn = device.type == "cpu" and precision == "fp32" and onednn_available()
        if self.onednn:
            route_convolutions_to_onednn(self.generator)
        # (input pointer, shape) -> (graph, its output); one entry, for the current shape.
        self._graph: tuple[tuple[int, tuple[int, ...]], torch.cuda.CUDAGraph, torch.Tensor] | None
        self._graph = None

    def generate(self, generator_input: torch.Tensor) -> torch.Tensor:
        """N x input_nc x H x W (input_dtype, on device) -> N x 3 x H x W in [-1, 1].

        On CUDA the result lives in the graph's memory and is overwritten by the next call
        with the same input buffer: copy it to keep it. It is ready for the caller's current
        stream."""
        if self.device.type != "cuda":
            with torch.inference_mode():
                return self.generator(generator_input)
        return self.stream.run(self._replay, generator_input)

    def _replay(self, generator_input: torch.Tensor) -> torch.Tensor:
        key = (generator_input.data_ptr(), tuple(generator_input.shape))
        if self._graph is None or self._graph[0] != key:
            self._graph = None  # frees the previous shape's graph memory first
            self._graph = (key, *self._capture(generator_input))
        _, graph, output = self._graph
        graph.replay()
        return output

    def _capture(self, generator_input: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        """Runs on the backend's stream (inside generate)."""
        with cudnn_autotuning(), torch.inference_mode():
            for _ in range(2):  # cuDNN picks its algorithms outside the capture
                self.generator(generator_input)
        graph = torch.cuda.CUDAGraph()
        with self.stream.capturing(graph), torch.inference_mode():
            output = self.generator(generator_input)
        return graph, output
