# SPDX-License-Identifier: Apache-2.0
"""TensorRT engines from an exported ONNX: TensorRT for RTX (ahead of time, for a chosen
compute capability, no GPU needed) or full TensorRT (for the local GPU); running them."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2phd.artifact_io import Shapes, TensorSpec
from p2phd.export.common import (
    ExportError,
    ExportUsageError,
    Progress,
    trt_module_name,
)
from p2phd.extras import MissingExtra, require_one_of


def import_tensorrt() -> Any:
    """`tensorrt` when importable, else TensorRT for RTX; ExportError naming what to install."""
    try:
        return require_one_of("tensorrt", "tensorrt_rtx", "tensorrt_rtx_bindings")
    except MissingExtra as error:
        raise ExportError(
            f"building an engine needs TensorRT: {error} (TensorRT for RTX builds ahead of "
            "time for a chosen --compute-capability without a GPU), or install TensorRT "
            "(module `tensorrt`, builds for the local GPU)"
        ) from error


def is_rtx(trt: Any) -> bool:
    """Whether `trt` is TensorRT for RTX (whose engines full TensorRT cannot load)."""
    return trt_module_name(trt) == "tensorrt_rtx"


def parse_compute_capability(text: str) -> str:
    """'8.6', '86', 'sm_86' or 'sm86' -> '8.6'; '12.0' / '120' -> '12.0'."""
    t = text.strip().lower().removeprefix("sm_").removeprefix("sm")
    m = re.fullmatch(r"(\d+)\.(\d)", t) or re.fullmatch(r"(\d+)(\d)", t)
    if not m:
        raise ExportUsageError(f"compute capability must look like 8.6, got {text!r}")
    return f"{int(m.group(1))}.{m.group(2)}"


def rtx_capability(trt: Any, cc: str) -> Any:
    """TensorRT for RTX's enum value of compute capability `cc`, or ExportUsageError."""
    name = "SM" + cc.replace(".", "")
    value = getattr(trt.ComputeCapability, name, None)
    if value is None:
        known = sorted(
            k[2:-1] + "." + k[-1]
            for k in dir(trt.ComputeCapability)
            if k.startswith("SM") and k[2:].isdigit()
        )
        raise ExportUsageError(
            f"TensorRT for RTX {trt.__version__} cannot target compute capability {cc}; it "
            f"knows {', '.join(known)}"
        )
    return value


_TRT_DTYPES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "INT8": "int8",
    "BOOL": "bool",
    "BF16": "bfloat16",
}


def _network_io(network: Any, tensors: Sequence[TensorSpec], getter: str, count: str):
    """[{"name", "dtype", "shape"}] of the parsed network, dynamic dims named like ONNX's."""
    described = []
    for i in range(getattr(network, count)):
        tensor = getattr(network, getter)(i)
        spec = next((t for t in tensors if t.name == tensor.name), None)
        axes = spec.dynamic_axes() if spec is not None else {}
        shape = [
            axes.get(d, "dynamic") if int(v) < 0 else int(v) for d, v in enumerate(tensor.shape)
        ]
        dtype = _TRT_DTYPES.get(tensor.dtype.name, tensor.dtype.name.lower())
        described.append({"name": tensor.name, "dtype": dtype, "shape": shape})
    return described


class _Monitor:
    """A TensorRT progress monitor that prints phase starts and ends (nested by indent)."""

    @staticmethod
    def create(trt: Any, progress: Progress) -> Any:
        class Monitor(trt.IProgressMonitor):
            def __init__(self) -> None:
                trt.IProgressMonitor.__init__(self)
                self.depth: dict[str, int] = {}
                self.started: dict[str, float] = {}

            def phase_start(self, phase_name, parent_phase, num_steps):
                depth = self.depth.get(parent_phase, 0) + 1 if parent_phase else 1
                self.depth[phase_name] = depth
                self.started[phase_name] = time.perf_counter()
                if depth <= 2:
                    progress(f"{'  ' * depth}{phase_name} ({num_steps} steps)")

            def step_complete(self, phase_name, step):
                return True

            def phase_finish(self, phase_name):
                depth = self.depth.pop(phase_name, 1)
                seconds = time.perf_counter() - self.started.pop(phase_name, time.perf_counter())
                if depth <= 1:
                    progress(f"{'  ' * depth}{phase_name} done in {seconds:.1f} s")

        return Monitor()


def build_engine(
    onnx_path: Path,
    engine_tmp: Path,
    cache_path: Path,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    shapes: Shapes,
    precision: str,
    compute_capabilities: Sequence[str],
    workspace_mib: int | None,
    progress: Progress,
) -> tuple[Any, list[dict], list[dict], bytes]:
    """Build `onnx_path` into `engine_tmp`: (module, sidecar inputs, outputs, timing cache)."""
    trt = import_tensorrt()
    rtx = is_rtx(trt)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    progress(f"parsing {onnx_path.name} with {trt_module_name(trt)} {trt.__version__}")
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ExportError("TensorRT could not parse the ONNX graph: " + "; ".join(errors))
    config = builder.create_builder_config()
    if precision == "fp16" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)  # full TensorRT without strong typing
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default; 10-bit mantissas are not fp32
    if workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if compute_capabilities:
        if not rtx:
            raise ExportUsageError(
                "--compute-capability needs TensorRT for RTX; TensorRT builds for the local GPU"
            )
        config.num_compute_capabilities = len(compute_capabilities)
        for i, cc in enumerate(compute_capabilities):
            config.set_compute_capability(rtx_capability(trt, cc), i)
    if shapes.dynamic:
        profile = builder.create_optimization_profile()
        rng = shapes.shape_range()
        assert rng is not None
        for tensor in inputs:
            profile.set_shape(
                tensor.name,
                tensor.shape(*rng["min"]),
                tensor.shape(*rng["opt"]),
                tensor.shape(*rng["max"]),
            )
        config.add_optimization_profile(profile)
    cache_bytes = cache_path.read_bytes() if cache_path.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=True)
    config.progress_monitor = _Monitor.create(trt, progress)
    progress("building the engine")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError("TensorRT failed to build the engine (see its messages above)")
    with open(engine_tmp, "wb") as handle:
        handle.write(memoryview(serialized))
    cache_out = bytes(memoryview(config.get_timing_cache().serialize()))
    io_in = _network_io(network, inputs, "get_input", "num_inputs")
    io_out = _network_io(network, outputs, "get_output", "num_outputs")
    return trt, io_in, io_out, cache_out


_TORCH_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "int32": torch.int32,
    "uint8": torch.uint8,
}


def run_engine(
    trt: Any, path: Path, named: Mapping[str, torch.Tensor], capabilities: Sequence[str]
) -> np.ndarray | str:
    """The engine's first output on the sample, or a string saying why it cannot run here."""
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch"
    major, minor = torch.cuda.get_device_capability()
    here = f"{major}.{minor}"
    if capabilities and here not in capabilities:
        return f"built for compute capability {', '.join(capabilities)}, this GPU is {here}"
    logger = trt.Logger(trt.Logger.WARNING)
    engine = trt.Runtime(logger).deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        return "this TensorRT cannot deserialize the engine"
    context = engine.create_execution_context()
    stream = torch.cuda.Stream()
    buffers: dict[str, torch.Tensor] = {}
    for name, value in named.items():
        buffers[name] = value.cuda().contiguous()
        context.set_input_shape(name, tuple(value.shape))
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if name not in buffers:
            dtype = _TORCH_DTYPES[_TRT_DTYPES[engine.get_tensor_dtype(name).name]]
            shape = tuple(context.get_tensor_shape(name))
            buffers[name] = torch.empty(shape, dtype=dtype, device="cuda")
        context.set_tensor_address(name, buffers[name].data_ptr())
    with torch.cuda.stream(stream):
        if not context.execute_async_v3(stream.cuda_stream):
            raise ExportError("TensorRT failed to run the engine")
    stream.synchronize()
    out_name = next(
        engine.get_tensor_name(i)
        for i in range(engine.num_io_tensors)
        if engine.get_tensor_mode(engine.get_tensor_name(i)) == trt.TensorIOMode.OUTPUT
    )
    out = buffers[out_name].cpu()
    return out.numpy() if out.dtype == torch.uint8 else out.double().numpy()
