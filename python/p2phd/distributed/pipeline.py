# SPDX-License-Identifier: Apache-2.0
"""render_dataset / render_jobs: a dataset through a pool of Runtime actors on Ray Data,
with the outputs, names and styles of the local folder render, resumable, with progress and
a summary."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, TextIO

from p2phd.atomic import remove_dead_temporaries
from p2phd.checkpoint import resolve_model
from p2phd.distributed.jobs import MapPaths, pending, plan_maps
from p2phd.distributed.pool import PoolPlan, io_stage_arguments, plan_pool, render_stage_arguments
from p2phd.distributed.stages import RenderActor, read_maps, write_images
from p2phd.extras import require
from p2phd.map_jobs import Job, append_manifest, manifest_record, open_manifest

DEFAULT_BATCH_SIZE = 4


def require_ray() -> ModuleType:
    """The ray module with Ray Data (the ray[data] extra, not only ray), or MissingExtra."""
    require("ray.data")
    return require("ray")


@dataclass
class RenderSummary:
    maps: int  # all maps of the job, done before or now
    skipped: int  # outputs that existed already (resumed), not rendered again
    rendered: int
    failures: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    pool: str = "no actors (nothing to render)"

    @property
    def images_per_second(self) -> float:
        return self.rendered / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        summary = (
            f"{self.rendered} of {self.maps} maps rendered in {self.seconds:.2f} s "
            f"({self.images_per_second:.2f} images/s) on {self.pool}; "
            f"{self.skipped} already done, {len(self.failures)} failed"
        )
        return [summary] + [f"failed: {path}: {reason}" for path, reason in self.failures]


class _Progress:
    """`[done/total]` on one refreshed line on a terminal; in a pipe or log, a line every
    `interval` seconds (and the last one)."""

    def __init__(self, total: int, stream: TextIO | None, interval: float = 5.0) -> None:
        self.total, self.stream, self.interval = total, stream, interval
        self.tty = stream is not None and stream.isatty()
        self.start = self.last = time.perf_counter()

    def update(self, done: int, failed: int, name: str) -> None:
        if self.stream is None:
            return
        now = time.perf_counter()
        if not self.tty and done < self.total and now - self.last < self.interval:
            return
        self.last = now
        rate = (done - failed) / (now - self.start)
        line = f"[{done}/{self.total}] {name} ({rate:.2f} images/s, {failed} failed)"
        if self.tty:
            print(f"\r\033[K{line}", end="" if done < self.total else "\n", file=self.stream)
        else:
            print(line, file=self.stream)
        self.stream.flush()


def connect(ray: ModuleType, address: str) -> bool:
    """Joins a cluster: "auto" the one this machine belongs to (RAY_ADDRESS, or the last
    `ray start` here) or else a new local one, "local" always a new local one, or an address
    (host:port, ray://host:port). Reuses a connection this process holds. True when it
    connected (and the caller shuts down)."""
    if ray.is_initialized():
        return False
    ray.init(
        address=None if address == "auto" else address,
        include_dashboard=False,
        logging_level="WARNING",
        configure_logging=True,
    )
    return True


@contextmanager
def _quiet_data_context(ray: ModuleType) -> Iterator[None]:
    """Ray Data's own progress bars and plan printing off (this module reports progress);
    its warnings stay."""
    context = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    saved = context.enable_progress_bars, context.print_on_execution_start, logger.level
    context.enable_progress_bars, context.print_on_execution_start = False, False
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start, level = saved
        logger.setLevel(level)


class _Manifests:
    """The manifest of each output folder, opened at its first output, closed at the end."""

    def __init__(self) -> None:
        self.files: dict[Path, BinaryIO] = {}

    def __enter__(self) -> _Manifests:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for file in self.files.values():
            file.close()

    def record(self, row: Mapping[str, Any], style: Mapping[int, int] | None) -> None:
        out = Path(row["out"])
        job = Job(Path(row["labels"]), Path(row["instances"]) if row["instances"] else None, out)
        if out.parent not in self.files:
            self.files[out.parent] = open_manifest(out.parent)
        provenance = json.loads(row["provenance"])
        append_manifest(
            self.files[out.parent], manifest_record(job, provenance, int(row["seed"]), style)
        )


def _rows(jobs: Sequence[Job], seed: int | None) -> list[dict[str, Any]]:
    # Absolute paths: Ray's workers do not run in the driver's working directory.
    return [
        {
            "labels": str(job.labels.resolve()),
            "instances": str(job.instances.resolve()) if job.instances else "",
            "out": str(job.out.resolve()),
            "seed": 0 if seed is None else seed,  # every map the run's seed
        }
        for job in jobs
    ]


def render_jobs(
    model: str | os.PathLike,
    jobs: Sequence[Job],
    *,
    address: str = "auto",
    actors: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    overwrite: bool = False,
    seed: int | None = None,
    style: Mapping[int, int] | None = None,
    device: str = "auto",
    progress: TextIO | None = sys.stderr,
    **runtime_options: Any,
) -> RenderSummary:
    """Renders `jobs` (from plan_maps) with `model` on a Ray cluster (see `connect` for
    `address`). Outputs that exist are skipped unless `overwrite`; a map that cannot be read
    or rendered is listed in the summary's failures and the others finish. `seed` and
    `style` are those of Runtime.render, `runtime_options` Runtime's (backend, precision,
    label_nc, ...); `device` "auto" takes one GPU per actor where the cluster has GPUs.
    Each output written is recorded in p2phd-manifest.jsonl beside it (map_jobs).
    Messages and progress go to `progress` (None: silent)."""

    def log(line: str) -> None:
        if progress is not None:
            print(line, file=progress)

    # A model name ("demo": the model shipped with p2phd) or a path, as Runtime takes it;
    # absolute, since Ray's workers do not run in the driver's working directory.
    model = resolve_model(model).resolve()
    # A killed render's half-written images (of this host) go before outputs are counted.
    for folder in {job.out.parent for job in jobs}:
        remove_dead_temporaries(folder)
    todo = pending(jobs, overwrite)
    summary = RenderSummary(maps=len(jobs), skipped=len(jobs) - len(todo), rendered=0)
    if not todo:
        log(f"all {len(jobs)} outputs exist already; nothing to render (--overwrite redoes them)")
        return summary
    ray = require_ray()
    started = connect(ray, address)
    try:
        plan = plan_pool(ray.cluster_resources(), actors, device)
        if plan.note:
            log(plan.note)
        summary.pool = plan.describe()
        log(
            f"rendering {len(todo)} maps ({summary.skipped} already done) on {summary.pool}, "
            f"batches of {batch_size}"
        )
        start = time.perf_counter()
        with _quiet_data_context(ray):
            dataset = _build_dataset(
                ray, plan, model, todo, seed, style, batch_size, runtime_options
            )
            tracker = _Progress(len(todo), progress)
            done = 0
            with _Manifests() as manifests:
                for row in dataset.iter_rows():
                    done += 1
                    if row["error"]:
                        summary.failures.append((Path(row["labels"]), row["error"]))
                    else:
                        summary.rendered += 1
                        manifests.record(row, style)
                    tracker.update(done, len(summary.failures), Path(row["labels"]).name)
        summary.seconds = time.perf_counter() - start
    except ray.exceptions.RayError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else repr(error)
        raise RuntimeError(f"the Ray job failed: {first_line}") from error
    finally:
        if started:
            ray.shutdown()
    summary.failures.sort()
    return summary


def _build_dataset(
    ray: ModuleType,
    plan: PoolPlan,
    model: Path,
    jobs: Sequence[Job],
    seed: int | None,
    style: Mapping[int, int] | None,
    batch_size: int,
    runtime_options: Mapping[str, Any],
) -> Any:
    """read maps (CPU tasks) -> RenderActor pool -> write PNGs (CPU tasks); streamed."""
    blocks = max(1, math.ceil(len(jobs) / batch_size))
    io = io_stage_arguments()
    return (
        ray.data.from_items(_rows(jobs, seed), override_num_blocks=blocks)
        .map_batches(read_maps, **io)
        .map_batches(
            RenderActor, **render_stage_arguments(plan, model, runtime_options, style, batch_size)
        )
        .map_batches(write_images, **io)
    )


def render_dataset(
    model: str | os.PathLike,
    source: str | os.PathLike | Sequence[MapPaths],
    out: str | os.PathLike,
    *,
    phase: str = "test",
    **options: Any,
) -> RenderSummary:
    """Renders a dataset root in the public layout (`test_label/`, `test_inst/`), a folder
    of label maps, or (labels, instances) path pairs into `out`, with the file names of
    `p2phd-render MODEL DATASET --out DIR`; `options` are render_jobs'."""
    return render_jobs(model, plan_maps(source, out, phase), **options)
