# SPDX-License-Identifier: Apache-2.0
"""images/s of a folder render: one process (p2phd-render) against Ray Data with N actors, on
one machine, in one run (the runs interleaved so that they share the machine's load).

  python -m p2phd.distributed.bench MODEL DATASET [--size 512x1024] [--runs 3] [--actors 1 2]

DATASET is a root in the public layout; --size renders a copy scaled with NEAREST, as the
public code scales maps. The local cluster has every core of the machine; each number is
the whole job, model loading and actor start included, median of --runs."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from p2phd.cli import render
from p2phd.cli.bench import parse_size
from p2phd.distributed.pipeline import render_jobs, require_ray


def scaled_copy(root: Path, size: tuple[int, int], into: Path, phase: str) -> Path:
    height, width = size
    for folder in (f"{phase}_label", f"{phase}_inst"):
        (into / folder).mkdir(parents=True)
        for path in sorted((root / folder).glob("*.png")):
            with Image.open(path) as image:
                image.resize((width, height), Image.NEAREST).save(into / folder / path.name)
    return into


def time_local(model: str, dataset: Path, out: Path) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        status = render.main([model, str(dataset), "--out", str(out), "--device", "cpu"])
    if status != 0:
        raise RuntimeError(f"the local render failed (exit {status})")
    return time.perf_counter() - start


def time_ray(model: str, dataset: Path, out: Path, actors: int, batch_size: int) -> float:
    jobs = render.plan_jobs(dataset, out, None, "test")
    start = time.perf_counter()
    summary = render_jobs(
        model, jobs, actors=actors, batch_size=batch_size, device="cpu", progress=None
    )
    if summary.failures or summary.rendered != len(jobs):
        raise RuntimeError(f"the Ray render failed: {summary.lines()}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m p2phd.distributed.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model")
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--size", type=parse_size, help="render a NEAREST-scaled copy, HxW")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args(argv)
    ray = require_ray()
    with tempfile.TemporaryDirectory(prefix="p2phd-ray-bench-") as work:
        work_dir = Path(work)
        dataset = args.dataset
        if args.size:
            dataset = scaled_copy(args.dataset, args.size, work_dir / "data", "test")
        maps = len(render.plan_jobs(dataset, work_dir, None, "test"))
        cpus = os.cpu_count() or 1
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
        names = ["one process"] + [f"Ray, {n} actor{'s' * (n > 1)}" for n in args.actors]
        seconds: dict[str, list[float]] = {name: [] for name in names}
        try:
            for run in range(args.runs):
                out = work_dir / f"run{run}"
                seconds[names[0]].append(time_local(args.model, dataset, out / "local"))
                for name, actors in zip(names[1:], args.actors, strict=True):
                    target = out / f"ray{actors}"
                    seconds[name].append(
                        time_ray(args.model, dataset, target, actors, args.batch_size)
                    )
        finally:
            ray.shutdown()
    print(
        f"{maps} maps from {args.dataset} at {args.size or 'full size'}, {cpus} CPUs, "
        f"median of {args.runs} runs (all runs, s, in brackets)"
    )
    print("| render | images/s | s per job |")
    print("| --- | --- | --- |")
    for name, times in seconds.items():
        median = statistics.median(times)
        runs = ", ".join(f"{t:.1f}" for t in times)
        print(f"| {name} | {maps / median:.2f} | {median:.1f} ({runs}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
