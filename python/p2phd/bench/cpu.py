# SPDX-License-Identifier: Apache-2.0
"""The CPU table of `p2phd-bench render`: every Runtime backend in every precision beside
bare OpenVINO and bare onnxruntime on the same exported model (ONNX with preprocessing, so
that the bare rows, like Runtime, go from the maps to the uint8 image), timed interleaved in
one run (bench.timing: one render of each case in turn, round after round, so that a change
of load hits all cases alike), each with its pixel difference from the torch backend in fp32."""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from p2phd.extras import require
from p2phd.runtime import Runtime
from p2phd.runtime.devices import BF16_FLAGS, cpu_flags
from p2phd.runtime.map_feeds import Maps

# Runtime backends timed on the CPU, the default first.
CPU_BACKENDS = ("openvino", "torch", "fused")
# OpenVINO's inference precision hint of each Runtime precision the bare rows run in.
BARE_OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16"}
REFERENCE = "p2phd torch (fp32)"


@dataclass(frozen=True)
class CpuCase:
    name: str
    render: Callable[[], np.ndarray]  # -> uint8 N x H x W x 3


def cpu_precisions() -> list[str]:
    """fp32, and bf16 where the CPU has bf16 units."""
    return ["fp32", "bf16"] if BF16_FLAGS & cpu_flags() else ["fp32"]


def _numpy(image: object) -> np.ndarray:
    return image.cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)


def runtime_cases(
    model_dir: str,
    export: Path,
    precisions: list[str],
    labels: torch.Tensor,
    instances: torch.Tensor,
) -> list[CpuCase]:
    """Runtime renders of the bundle on each CPU backend in each precision (named by what
    Runtime chose), then the export on onnxruntime; the torch fp32 reference first."""
    cases = []
    loaded: dict[str, Runtime] = {REFERENCE: Runtime(model_dir, backend="torch", precision="fp32")}
    for backend in CPU_BACKENDS:
        for precision in precisions:
            runtime = Runtime(model_dir, backend=backend, device="cpu", precision=precision)
            loaded.setdefault(f"p2phd {runtime.backend} ({runtime.precision})", runtime)
    loaded["p2phd onnxruntime (fp32)"] = Runtime(export, backend="onnxruntime")
    for name, runtime in loaded.items():
        cases.append(CpuCase(name, lambda r=runtime: _numpy(r.render(labels, instances))))
    return cases


def bare_cases(export: Path, precisions: list[str], maps: Maps) -> list[CpuCase]:
    """The export run as an OpenVINO or onnxruntime user would: compile or open the file,
    feed the int32 maps (and the float32 features of a feature model), read the uint8
    image."""
    import openvino

    onnxruntime = require("onnxruntime")

    feeds = {"labels": maps.labels.numpy().astype(np.int32)}
    feeds["instances"] = maps.instances.numpy().astype(np.int32)
    if maps.features is not None:
        feeds["features"] = maps.features.numpy().astype(np.float32)
    core = openvino.Core()
    cases = []
    for precision in precisions:
        hint = BARE_OPENVINO_HINTS.get(precision)
        if hint is None:
            continue
        compiled = core.compile_model(
            str(export), "CPU", {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
        )
        request = compiled.create_infer_request()

        def bare_openvino(request: object = request) -> np.ndarray:
            request.infer(feeds)
            return request.get_output_tensor(0).data.copy()

        cases.append(CpuCase(f"bare OpenVINO {hint} (export)", bare_openvino))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(export), options, providers=["CPUExecutionProvider"])
    cases.append(CpuCase("bare onnxruntime (export)", lambda: session.run(None, feeds)[0]))
    return cases


def peak_rss_mb(render: Callable[[], object]) -> float:
    """The process's peak resident set, in MiB, during one call of `render`: Linux's VmHWM
    after resetting it through /proc/self/clear_refs, so it is the peak of this call (every
    model the process holds included); where that reset is refused, the process's lifetime
    peak (getrusage's ru_maxrss) after the call."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # 5: reset the peak RSS to the current RSS
    except OSError:
        render()
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    render()
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    raise OSError("/proc/self/status has no VmHWM line")


def pixel_difference(image: np.ndarray, reference: np.ndarray) -> tuple[float, int]:
    """Mean and largest |difference| in uint8 levels."""
    difference = np.abs(image.astype(np.int16) - reference.astype(np.int16))
    return float(difference.mean()), int(difference.max())
