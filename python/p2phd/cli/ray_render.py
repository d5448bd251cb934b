# SPDX-License-Identifier: Apache-2.0
"""`p2phd-render MODEL DATASET --out DIR --ray`: the flags, and the run on Ray with its
messages and exit code (0 all rendered, 1 failures, 2 bad usage)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from p2phd.cli.common import UsageError
from p2phd.distributed.pipeline import DEFAULT_BATCH_SIZE, render_jobs
from p2phd.extras import MissingExtra
from p2phd.map_jobs import OutputCollision, plan_jobs

RAY_FLAGS = ("actors", "batch_size", "overwrite")


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rendering a folder on Ray Data (the p2phd[ray] extra)")
    group.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="auto|local|ADDRESS",
        help="auto (the default): the Ray cluster this machine belongs to, else a new local "
        "one; local: always a new local one; ADDRESS: host:port or ray://host:port",
    )
    group.add_argument(
        "--actors", type=int, help="Runtime actors (default: one per GPU, or per 4 CPUs)"
    )
    group.add_argument(
        "--batch-size",
        type=int,
        help=f"maps per actor call and per read task ({DEFAULT_BATCH_SIZE})",
    )
    group.add_argument(
        "--overwrite", action="store_true", help="render maps whose output exists again"
    )


def check_ray_arguments(args: argparse.Namespace) -> None:
    """Usage errors of the Ray flags (exit 2)."""
    if args.ray is None:
        used = [flag for flag in RAY_FLAGS if getattr(args, flag) not in (None, False)]
        if used:
            names = ", ".join("--" + flag.replace("_", "-") for flag in used)
            raise UsageError(f"{names}: for --ray renders only")
        return
    if args.actors is not None and args.actors < 1:
        raise UsageError(f"--actors must be at least 1, got {args.actors}")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.instances:
        raise UsageError("--instances names the instance map of one label map; not for --ray")
    if args.resize is not None:
        raise UsageError("--resize: for local renders only (Ray actors read the maps as they are)")


def run_on_ray(
    args: argparse.Namespace,
    runtime_options: dict[str, Any],
    style: dict[int, int],
) -> int:
    """Renders the maps of args.input on Ray and prints the summary; runtime_options are
    each actor's Runtime arguments (runtime_options(args) and the model's)."""
    try:
        jobs = plan_jobs(Path(args.input), Path(args.out), None, args.phase)
    except OutputCollision as error:
        raise UsageError(str(error)) from None
    if not jobs:
        raise UsageError(f"no label maps (*.png) found in {args.input}")
    for job in jobs:
        # Ray's string columns hold UTF-8 only; the local render takes any file name.
        if not all(map(_is_utf8, (job.labels, job.out))):
            raise UsageError(
                f"--ray takes UTF-8 file names only, and {job.labels} is not: rename it, "
                "or render without --ray"
            )
    try:
        summary = render_jobs(
            args.model,
            jobs,
            address=args.ray,
            actors=args.actors,
            batch_size=args.batch_size or DEFAULT_BATCH_SIZE,
            overwrite=args.overwrite,
            seed=args.seed,
            style=style or None,
            **runtime_options,
        )
    except MissingExtra as error:  # run_command reports RuntimeErrors as one line
        raise RuntimeError(f"--ray: {error}") from error
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 1 if summary.failures else 0


def _is_utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
