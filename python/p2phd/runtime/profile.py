# SPDX-License-Identifier: Apache-2.0
"""`RenderProfile`: the time of each stage of `Runtime.render`, for benchmarks and logs."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator

import torch

STAGES = ("preprocess", "generator", "postprocess")


class RenderProfile:
    """Pass one to `Runtime.render(..., profile=p)`; each render appends the wall time of its
    stages, in milliseconds, to `p.stages_ms[stage]`:

    - "preprocess": checks, feature maps, padding and the generator input (one-hot, edges);
    - "generator": the network (on the fused and exported-with-preprocess backends also the
      input and the uint8 conversion, which run inside it);
    - "postprocess": the uint8 conversion, cropping and the copy to the caller's device.

    On CUDA the device is synchronised around each stage, so the times are the GPU's (and
    profiling costs a little speed).

    `p.renders_ms` gets the wall time of each whole render; what it has over the sum of the
    stages is work no stage times (input conversion, locking, checks between stages)."""

    def __init__(self) -> None:
        self.stages_ms: dict[str, list[float]] = {stage: [] for stage in STAGES}
        self.renders_ms: list[float] = []

    @contextlib.contextmanager
    def stage(self, name: str, device: torch.device) -> Iterator[None]:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        began = time.perf_counter()
        yield
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.stages_ms[name].append((time.perf_counter() - began) * 1e3)

    @contextlib.contextmanager
    def render(self) -> Iterator[None]:
        """One render: a stage it times more than once (on a CPU the generator and the
        postprocess run once per map) counts as one entry, the sum of its times."""
        before = {name: len(times) for name, times in self.stages_ms.items()}
        began = time.perf_counter()
        try:
            yield
        finally:
            self.renders_ms.append((time.perf_counter() - began) * 1e3)
            for name, times in self.stages_ms.items():
                if len(times) > before[name]:
                    times[before[name] :] = [sum(times[before[name] :])]

    def median_ms(self, name: str) -> float:
        """The median time of a stage over the renders profiled so far."""
        times = self.stages_ms[name]
        if not times:
            raise ValueError(f"no render has been profiled for stage {name!r}")
        return statistics.median(times)
