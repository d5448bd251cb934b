# SPDX-License-Identifier: Apache-2.0
"""The one timing loop of the benchmarks (p2phd-bench and tools/): warm-up rounds that are not
counted, then timed rounds in which every candidate runs once in turn, so that a change of
load or clock speed during the run hits all candidates alike; the wall and process CPU time of
each run, and the machine's load average before and after the timed rounds."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Samples:
    """One candidate's timed runs, in milliseconds per call."""

    # Wall-clock time; with cuda=True the time between CUDA events around the calls.
    wall_ms: list[float] = field(default_factory=list)
    # This process's CPU time, all threads (less moved by other work on the machine).
    cpu_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.wall_ms, 90))

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu_ms)


@dataclass(frozen=True)
class Measurement:
    samples: list[Samples]  # one per candidate, in the order given
    load_before: float  # the 1-minute load average before the timed rounds
    load_after: float  # and after them


def load_average() -> float:
    """The machine's 1-minute load average."""
    return os.getloadavg()[0]


def measure(
    candidates: Sequence[Callable[[], object]],
    runs: int,
    warmup: int = 1,
    *,
    cuda: bool = False,
    calls_per_run: int = 1,
) -> Measurement:
    """Times each candidate in `runs` rounds, after `warmup` untimed rounds; every round calls
    each candidate in the order given, one after the other.

    cuda: the candidates queue GPU work: a run is timed with CUDA events on the current stream
    and waits for the last one, so it counts the GPU's work, not only its launch.
    calls_per_run: back-to-back calls in one timed run, the sample being their mean (on CUDA,
    as calls follow each other on a stream in a pipeline)."""
    if runs < 1 or warmup < 0 or calls_per_run < 1:
        raise ValueError(f"runs {runs}, warmup {warmup}, calls_per_run {calls_per_run}")
    for _ in range(warmup):
        for candidate in candidates:
            candidate()
    samples = [Samples() for _ in candidates]
    load_before = load_average()
    for _ in range(runs):
        for candidate, sample in zip(candidates, samples, strict=True):
            wall_ms, cpu_ms = _timed_run(candidate, calls_per_run, cuda)
            sample.wall_ms.append(wall_ms)
            sample.cpu_ms.append(cpu_ms)
    return Measurement(samples, load_before, load_average())


def _timed_run(candidate: Callable[[], object], calls: int, cuda: bool) -> tuple[float, float]:
    """Wall and CPU milliseconds per call of `calls` back-to-back calls."""
    began_cpu = time.process_time()
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            candidate()
        end.record()
        end.synchronize()
        wall_ms = start.elapsed_time(end)
    else:
        began = time.perf_counter()
        for _ in range(calls):
            candidate()
        wall_ms = (time.perf_counter() - began) * 1e3
    cpu_ms = (time.process_time() - began_cpu) * 1e3
    return wall_ms / calls, cpu_ms / calls
