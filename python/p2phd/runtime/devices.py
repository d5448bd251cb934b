# SPDX-License-Identifier: Apache-2.0
"""Where the work of a Runtime and its backends runs: a build that can run on the device,
a CUDA stream each owns on its device, and cuDNN's autotuning scoped to their own work.

A stream of one's own orders one Runtime's renders among themselves whatever streams its
callers use, so buffers and CUDA-graph memory shared between renders are never read and
written by two streams at once; the caller's stream waits for the result, and nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

Result = TypeVar("Result")

_REBUILD = (
    "rebuild p2phd with nvcc on PATH (pip install -Ccmake.define.P2PHD_CUDA=ON . ; "
    "after a CPU-only build use a new build directory) or render on device='cpu'"
)


def resolve_device(device: str | torch.device) -> torch.device:
    """ "auto" (CUDA where available, else the CPU), "cpu" or "cuda[:N]" as a torch.device,
    refusing a CUDA device this machine lacks."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for, but CUDA is not available here")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return resolved


def _reaches_torch(set_count: Callable[[int], None]) -> bool:
    """Whether `set_count` changes torch's count in the calling thread (tried in a thread
    of its own, so that no thread of the caller's keeps the change)."""
    changed = []

    def probe() -> None:
        before = torch.get_num_threads()
        set_count(2 if before == 1 else 1)
        changed.append(torch.get_num_threads() != before)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return changed == [True]


def _loaded_openmp_runtimes(maps: str = "/proc/self/maps") -> list[str]:
    """The OpenMP runtimes this process has loaded (Linux), by path: torch's own (its wheels
    ship libgomp) or the system's. Only loaded ones: loading another would add a runtime."""
    try:
        with open(maps) as lines:
            paths = {line.split(maxsplit=5)[-1].strip() for line in lines if "omp" in line}
    except OSError:
        return []
    return sorted(p for p in paths if Path(p).name.startswith(("libgomp", "libomp", "libiomp")))


@functools.cache
def _calling_thread_setter() -> Callable[[int], None] | None:
    """omp_set_num_threads of the OpenMP runtime torch runs on, which sets the calling
    thread's count only: torch.set_num_threads also sets the count that every thread takes at
    its first torch op, for good. None where none is loaded, or where it does not set
    torch's count (checked)."""
    for path in _loaded_openmp_runtimes():
        try:
            set_count = ctypes.CDLL(path).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        set_count.argtypes, set_count.restype = [ctypes.c_int], None
        if _reaches_torch(set_count):
            return set_count
    return None


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count in the calling thread set to `count` for the block,
    then restored (None: left as it is). Other threads keep theirs, and a thread started
    inside the block gets the process's count, where torch's OpenMP runtime can be reached
    (Linux); elsewhere torch.set_num_threads sets it, and a thread whose first torch
    op falls inside the block keeps `count`."""
    if count is None:
        yield
        return
    set_count = _calling_thread_setter() or torch.set_num_threads
    previous = torch.get_num_threads()
    set_count(count)
    try:
        yield
    finally:
        set_count(previous)


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (x86 "flags", Arm "Features"); empty where
    there is no such file."""
    try:
        with open(cpuinfo) as lines:
            for line in lines:
                name, _, value = line.partition(":")
                if name.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


# CPU flags of units that multiply bf16 matrices: Intel AMX, and AVX512-BF16 (Intel Cooper
# Lake and later, AMD Zen 4 and later).
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def interactive_precision(precision: str, device: torch.device, flags: frozenset[str]) -> str:
    """The precision for interactive renders (p2phd-serve): as asked, except that "auto" on
    a CPU that multiplies bf16 matrices in hardware (BF16_FLAGS) is bf16, which the openvino
    backend computes on those units. Measured by issue 23 on the 2-core AVX512-BF16 machine
    (demo model, 256 x 512): OpenVINO renders in 59 ms in bf16 against 133 ms in f32, and
    the 2-core AMX machine rendered 2.8 times as fast in bf16 as in fp32; bf16 lands a few
    tenths of a level from fp32 on average. Elsewhere "auto" is Runtime's (fp16 on CUDA, fp32
    on a CPU)."""
    if precision == "auto" and device.type == "cpu" and BF16_FLAGS & flags:
        return "bf16"
    return precision


def cuda_build_error(device: torch.device, build_info: Mapping[str, Any]) -> str | None:
    """Why p2phd's kernels cannot run on `device` with a build described by `build_info`
    (p2phd.build_info()), or None when they can."""
    if device.type == "cuda" and not build_info["cuda"]:
        return (
            f"this build of p2phd has no CUDA kernels, so it cannot render on {device}: {_REBUILD}"
        )
    return None


def require_kernels(device: torch.device) -> None:
    """Refuses, before any work, a device this build of p2phd has no kernels for."""
    from p2phd.ops import build_info  # the native module only where a backend is built

    error = cuda_build_error(device, build_info())
    if error is not None:
        raise RuntimeError(error)


@contextlib.contextmanager
def cudnn_autotuning() -> Iterator[None]:
    """cuDNN benchmark mode for the block only: the process-wide flag is restored after.
    Fixed shapes are the rule here, so cuDNN's search for the fastest kernels pays."""
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


class DeviceStream:
    """A CUDA stream of one's own on `device` (nothing on the CPU): `run` runs work on it
    after the caller's pending work and hands results back ordered before the caller's."""

    def __init__(self, device: torch.device) -> None:
        if device.type == "cuda" and device.index is None:  # "cuda": the device current now
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def run(self, work: Callable[..., Result], *args: Any) -> Result:
        """work(*args) on this stream, with this device current. The caller's current stream
        then waits for it, and CUDA tensors returned are marked in use by the caller's
        stream, so that the allocator does not hand their memory to this stream's next work
        while the caller still reads them."""
        stream = self.stream
        if stream is None:
            return work(*args)
        caller = torch.cuda.current_stream(self.device)
        if caller == stream:  # a nested call, already on this stream
            return work(*args)
        stream.wait_stream(caller)
        try:
            with torch.cuda.device(self.device), torch.cuda.stream(stream):
                result = work(*args)
        finally:  # after an error too: what was queued may still read the caller's tensors
            caller.wait_stream(stream)
        if isinstance(result, torch.Tensor) and result.is_cuda:
            result.record_stream(caller)
        return result

    @contextlib.contextmanager
    def capturing(self, graph: torch.cuda.CUDAGraph) -> Iterator[None]:
        """Captures `graph` on this stream, with this device current and cuDNN autotuning."""
        with torch.cuda.device(self.device), cudnn_autotuning():
            with torch.cuda.graph(graph, stream=self.stream):
                yield
