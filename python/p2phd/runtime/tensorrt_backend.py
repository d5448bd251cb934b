# SPDX-License-Identifier: Apache-2.0
"""A TensorRT engine (from `tensorrt`, or TensorRT for RTX's `tensorrt_rtx_bindings`)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import torch

from p2phd.extras import require_one_of
from p2phd.runtime.map_feeds import Maps, map_feeds


def import_tensorrt() -> ModuleType:
    """The TensorRT Python module: full TensorRT when installed, else TensorRT for RTX."""
    return require_one_of("tensorrt", "tensorrt_rtx", "tensorrt_rtx_bindings")


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, path: Path, device: torch.device) -> None:
        if device.type != "cuda" or not torch.cuda.is_available():
            raise RuntimeError(
                f"{path}: a TensorRT engine runs only on an NVIDIA GPU, and none is available "
                "here; use the checkpoint or the ONNX file with backend='torch' or "
                "'onnxruntime' instead"
            )
        trt = import_tensorrt()
        self.device = device
        self._trt = trt
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise ValueError(f"{path}: not a TensorRT engine this TensorRT can load")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == mode]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) != mode]
        self.takes_maps = "labels" in self.input_names
        self.generates = not self.takes_maps  # generate() returns the float image
        self.input_dtype = self._torch_dtype(self.input_names[0])
        self.precision = "fp16" if self.input_dtype == torch.float16 else "fp32"

    def _torch_dtype(self, name: str) -> torch.dtype:
        dtypes = {
            self._trt.DataType.FLOAT: torch.float32,
            self._trt.DataType.HALF: torch.float16,
            self._trt.DataType.INT32: torch.int32,
            self._trt.DataType.UINT8: torch.uint8,
        }
        return dtypes[self.engine.get_tensor_dtype(name)]

    def _run(self, feeds: dict[str, torch.Tensor]) -> torch.Tensor:
        for name, tensor in feeds.items():
            tensor = tensor.to(self.device, self._torch_dtype(name)).contiguous()
            feeds[name] = tensor
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        output_name = self.output_names[0]
        shape = tuple(self.context.get_tensor_shape(output_name))
        output = torch.empty(shape, dtype=self._torch_dtype(output_name), device=self.device)
        self.context.set_tensor_address(output_name, output.data_ptr())
        if not self.context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
            raise RuntimeError("TensorRT failed to run the engine")
        return output

    def generate(self, generator_input: torch.Tensor) -> torch.Tensor:
        return self._run({self.input_names[0]: generator_input})

    def render_maps(self, maps: Maps) -> torch.Tensor:
        """labels (+ instances, + features) -> N x H x W x 3 uint8, all inside the graph."""
        return self._run(map_feeds(self.input_names, maps))
