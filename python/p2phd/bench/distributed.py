# SPDX-License-Identifier: Apache-2.0
"""images/s of a folder render: one process (p2phd-render, as a user runs it) against Ray Data
with N actors, on one machine, in one run (the runs interleaved so that they share the
machine's load; bench.timing). `p2phd-bench ray MODEL DATASET` runs it.

DATASET is a root in the public layout; `size` renders a copy scaled with NEAREST, as the
public code scales maps. Ray runs on the cluster this process has joined, else on a local one
with every core of the machine; each number is the whole job, model loading and actor start
included, median of `runs`."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from p2phd.bench import timing
from p2phd.distributed.pipeline import render_jobs, require_ray
from p2phd.map_jobs import plan_jobs


@dataclass
class RayBenchRow:
    case: str
    maps: int
    seconds: list[float]

    @property
    def images_per_s(self) -> float:
        return self.maps / statistics.median(self.seconds)


def scaled_copy(root: Path, size: tuple[int, int], into: Path, phase: str) -> Path:
    height, width = size
    for folder in (f"{phase}_label", f"{phase}_inst"):
        (into / folder).mkdir(parents=True)
        for path in sorted((root / folder).glob("*.png")):
            with Image.open(path) as image:
                image.resize((width, height), Image.NEAREST).save(into / folder / path.name)
    return into


def render_local(model: str, dataset: Path, out: Path) -> None:
    """`p2phd-render MODEL DATASET --out OUT` in its own process."""
    command = [sys.executable, "-m", "p2phd.cli.render", model, str(dataset), "--out", str(out)]
    result = subprocess.run([*command, "--device", "cpu"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the local render failed (exit {result.returncode}): {result.stderr}")


def render_ray(model: str, dataset: Path, out: Path, actors: int, batch_size: int) -> None:
    jobs = plan_jobs(dataset, out, None, "test")
    summary = render_jobs(
        model, jobs, actors=actors, batch_size=batch_size, device="cpu", progress=None
    )
    if summary.failures or summary.rendered != len(jobs):
        raise RuntimeError(f"the Ray render failed: {summary.lines()}")


def run(
    model: str,
    dataset: Path,
    size: tuple[int, int] | None,
    runs: int,
    actors: list[int],
    batch_size: int,
) -> list[RayBenchRow]:
    """One row for the local render and one per actor count, all timed in one run, no
    warm-up (each job loads the model and starts its actors)."""
    ray = require_ray()
    with tempfile.TemporaryDirectory(prefix="p2phd-ray-bench-") as work:
        work_dir = Path(work)
        if size:
            dataset = scaled_copy(dataset, size, work_dir / "data", "test")
        maps = len(plan_jobs(dataset, work_dir, None, "test"))

        def new_out() -> Path:  # every job writes a folder of its own
            return Path(tempfile.mkdtemp(dir=work_dir, prefix="out-"))

        cases = {"one process": lambda: render_local(model, dataset, new_out())}
        for n in actors:
            cases[f"Ray, {n} actor{'s' * (n > 1)}"] = lambda n=n: render_ray(
                model, dataset, new_out(), n, batch_size
            )
        # A cluster this process already joined (a caller's, a test session's) is used as it
        # is; otherwise a local one with every core, for this run only.
        started = not ray.is_initialized()
        if started:
            cpus = os.cpu_count() or 1
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
        try:
            measurement = timing.measure(list(cases.values()), runs, warmup=0)
        finally:
            if started:
                ray.shutdown()
    return [
        RayBenchRow(case, maps, [ms / 1e3 for ms in samples.wall_ms])
        for case, samples in zip(cases, measurement.samples, strict=True)
    ]


def format_table(rows: list[RayBenchRow]) -> str:
    lines = ["| render | images/s | s per job |", "| --- | --- | --- |"]
    for row in rows:
        median = statistics.median(row.seconds)
        runs = ", ".join(f"{t:.1f}" for t in row.seconds)
        lines.append(f"| {row.case} | {row.images_per_s:.2f} | {median:.1f} ({runs}) |")
    return "\n".join(lines)
