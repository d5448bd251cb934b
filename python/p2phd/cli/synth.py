# SPDX-License-Identifier: Apache-2.0
"""p2phd-synth: write synthetic street scenes as a dataset in the public pix2pixHD layout.

  DIR/{phase}_label/scene_NNNNNN.png   label ids (uint8, Cityscapes ids)
  DIR/{phase}_inst/scene_NNNNNN.png    instance ids (uint16, label * 1000 + k for things)
  DIR/{phase}_img/scene_NNNNNN.png     the photo (RGB)

Seeds first_seed .. first_seed + count - 1, so train and test sets never overlap when their
seed ranges do not. Scenes are queued a few per worker at a time, so any --count starts
writing at once in bounded memory; each scene's three files appear together. Ctrl-C stops
within moments, keeping the scenes written so far; the workers end with the command, even
when it is killed, and the next run removes the half-written files a killed one left.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.pool import AsyncResult
from pathlib import Path

import numpy as np
from PIL import Image

from p2phd.atomic import atomic_paths, process_alive, remove_dead_temporaries
from p2phd.cli.common import (
    Parser,
    UsageError,
    check_output_dir,
    non_negative_int,
    positive_int,
    run_parsed,
    scene_size,
)
from p2phd.cli.progress import Progress
from p2phd.data.synthetic import synthetic_scene

# Scenes queued per worker: enough to keep every worker busy, few enough that memory stays
# bounded and Ctrl-C has little to drop, whatever --count says.
QUEUED_PER_WORKER = 2
# A process per worker: a bound, so that a typo cannot fork thousands.
MAX_WORKERS = 256
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def write_scene(root: Path, phase: str, seed: int, height: int, width: int) -> None:
    """The scene's label, instance and photo PNGs, renamed into place together: a scene is
    there whole or not at all, even when its worker is stopped."""
    scene = synthetic_scene(seed, height, width)
    name = f"scene_{seed:06d}.png"
    images = {
        "label": scene.labels,
        "inst": scene.instances.astype(np.uint16),
        "img": scene.image,
    }
    try:
        with atomic_paths(*(root / f"{phase}_{kind}" / name for kind in images)) as temporaries:
            for temporary, image in zip(temporaries, images.values(), strict=True):
                Image.fromarray(np.ascontiguousarray(image)).save(temporary, format="PNG")
    except OSError as error:
        raise OSError(f"cannot write {name} in {root}: {error.strerror or error}") from error


def _watch_parent(parent: int) -> None:
    while process_alive(parent):
        time.sleep(0.5)
    os._exit(1)


def init_worker(parent: int) -> None:
    """Pool initializer: the worker leaves Ctrl-C to the parent, and ends when the parent
    does, even by SIGKILL (Linux: the kernel sends SIGTERM; elsewhere a thread watches)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if not process_alive(parent):  # it died before prctl took effect
        os._exit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="p2phd-synth", description=__doc__)
    parser.add_argument("out", help="dataset root to write")
    parser.add_argument("--count", type=positive_int, default=100, help="number of scenes")
    parser.add_argument(
        "--first-seed", type=non_negative_int, default=0, help="seed of the first scene"
    )
    parser.add_argument("--size", type=scene_size, default=(256, 512), help="HxW")
    parser.add_argument("--phase", default="train", help="folder prefix: train or test")
    parser.add_argument(
        "--workers",
        type=positive_int,
        help=f"processes (default: all cores; at most {MAX_WORKERS}, and no more than --count)",
    )
    return parser


def synthesize(args: argparse.Namespace) -> int:
    root, (height, width) = check_output_dir(args.out), args.size
    if args.workers is not None and args.workers > MAX_WORKERS:
        raise UsageError(f"--workers must be at most {MAX_WORKERS}, got {args.workers}")
    workers = min(args.workers or os.cpu_count() or 1, args.count)
    progress = Progress(args.count, "scenes", "written")
    where = f"of {height}x{width} -> {root}/{args.phase}_{{label,inst,img}}"
    queued: collections.deque[tuple[int, AsyncResult]] = collections.deque()
    for kind in ("label", "inst", "img"):  # what a killed run (its workers too) left
        remove_dead_temporaries(root / f"{args.phase}_{kind}")

    def collect_oldest() -> None:
        seed, job = queued.popleft()
        job.get()
        progress.update(f"scene_{seed:06d}")

    # Leaving the block terminates the workers: at the end, on an error and on Ctrl-C.
    # Spawned, not forked: a fork of a process with threads (Ray's, OpenMP's, a caller's)
    # can deadlock in the child on a lock some thread held.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, init_worker, (os.getpid(),)) as pool:
        try:
            for seed in range(args.first_seed, args.first_seed + args.count):
                job = pool.apply_async(write_scene, (root, args.phase, seed, height, width))
                queued.append((seed, job))
                if len(queued) >= QUEUED_PER_WORKER * workers:
                    collect_oldest()
            while queued:
                collect_oldest()
        except KeyboardInterrupt:
            progress.finish(where)  # what was written before the interrupt
            raise
    progress.finish(where)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_parsed(build_parser(), synthesize, argv)


if __name__ == "__main__":
    sys.exit(main())
