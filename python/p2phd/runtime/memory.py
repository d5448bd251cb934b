# SPDX-License-Identifier: Apache-2.0
"""How much memory a render needs, and how much the device has: a render that cannot fit is
refused with a message before anything is allocated (an 8192 x 8192 CPU render used to be
killed by the kernel at 24 GB)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from p2phd.models import GeneratorConfig


class RenderMemoryError(MemoryError, RuntimeError):
    """A render needs more memory than the device has available (or than the limit set)."""


def render_bytes(
    config: GeneratorConfig, n: int, height: int, width: int, element_bytes: int
) -> int:
    """An upper estimate of the memory an eager inference render of N padded H x W maps
    allocates, weights excepted.

    At full resolution a convolution holds its input, the reflection-padded copy, oneDNN's or
    cuDNN's reordered copies and its output, then the norm's output: about 3 * input_nc +
    3 * ngf channels; each coarser level has twice the channels on a quarter of the pixels,
    so all levels together stay below twice the full-resolution ngf term. On top: the int64
    instance and label maps, the float result, its float32 copy and the uint8 image.
    Measured on the CPU at 1024 x 2048 (torch backend, fp32): 1182 MiB for the demo model
    (estimate 1814), 1217 MiB for a local enhancer with ngf 8 (estimate 1334)."""
    pixels = n * height * width
    network = element_bytes * (3 * config.input_nc + 6 * config.ngf)
    maps = 8 + 8 + 4 * config.feature_nc
    result = element_bytes * config.output_nc + 4 * config.output_nc + config.output_nc
    return pixels * (network + maps + result)


def _cgroup_free_bytes() -> int | None:
    """What the cgroup (v2) memory limit still leaves this process, if there is a limit."""
    folder = Path("/sys/fs/cgroup")
    try:
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((folder / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def _available_host_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
            else:
                return None
    except OSError:
        pages = getattr(os, "sysconf_names", {}).get("SC_AVPHYS_PAGES")
        if pages is None:
            return None
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    cgroup = _cgroup_free_bytes()
    return available if cgroup is None else min(available, cgroup)


# The host's available memory is read again after this long: reading it (/proc/meminfo, the
# cgroup's files) costs a quarter of a millisecond, a tenth of a small render's preprocessing.
HOST_READING_SECONDS = 0.5
_host_reading: tuple[float, int | None] | None = None  # (time.monotonic(), bytes)


def _recent_host_bytes() -> int | None:
    global _host_reading
    now = time.monotonic()
    reading = _host_reading
    if reading is None or now - reading[0] > HOST_READING_SECONDS:
        reading = (now, _available_host_bytes())
        _host_reading = reading
    return reading[1]


def available_bytes(device: torch.device) -> int | None:
    """Memory a render on `device` can still allocate (None where it cannot be told): free
    device memory plus what PyTorch's CUDA cache holds unused, or the host's available memory
    (within the cgroup limit, as read at most HOST_READING_SECONDS ago)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return free + cached
    return _recent_host_bytes()
