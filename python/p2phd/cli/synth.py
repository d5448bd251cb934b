# SPDX-License-Identifier: Apache-2.0
"""p2phd-synth: write synthetic street scenes as a dataset in the public pix2pixHD layout.

  DIR/{phase}_label/scene_NNNNNN.png   label ids (uint8, Cityscapes ids)
  DIR/{phase}_inst/scene_NNNNNN.png    instance ids (uint16, label * 1000 + k for things)
  DIR/{phase}_img/scene_NNNNNN.png     the photo (RGB)

Seeds first_seed .. first_seed + count - 1, so train and test sets never overlap when their
seed ranges do not.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from p2phd.cli.common import (
    Parser,
    check_output_dir,
    non_negative_int,
    positive_int,
    run_command,
    scene_size,
    write_image,
)
from p2phd.cli.progress import Progress
from p2phd.data.synthetic import synthetic_scene


def write_scene(root: Path, phase: str, seed: int, height: int, width: int) -> None:
    scene = synthetic_scene(seed, height, width)
    name = f"scene_{seed:06d}.png"
    write_image(root / f"{phase}_label" / name, scene.labels)
    write_image(root / f"{phase}_inst" / name, scene.instances.astype(np.uint16))
    write_image(root / f"{phase}_img" / name, scene.image)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="p2phd-synth", description=__doc__)
    parser.add_argument("out", help="dataset root to write")
    parser.add_argument("--count", type=positive_int, default=100, help="number of scenes")
    parser.add_argument(
        "--first-seed", type=non_negative_int, default=0, help="seed of the first scene"
    )
    parser.add_argument("--size", type=scene_size, default=(256, 512), help="HxW")
    parser.add_argument("--phase", default="train", help="folder prefix: train or test")
    parser.add_argument("--workers", type=positive_int, help="processes (default: all cores)")
    return parser


def synthesize(args: argparse.Namespace) -> int:
    root, (height, width) = check_output_dir(args.out), args.size
    seeds = range(args.first_seed, args.first_seed + args.count)
    progress = Progress(args.count, "scenes", "written")
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        jobs = [pool.submit(write_scene, root, args.phase, s, height, width) for s in seeds]
        for seed, job in zip(seeds, jobs, strict=True):
            job.result()
            progress.update(f"scene_{seed:06d}")
    progress.finish(f"of {height}x{width} -> {root}/{args.phase}_{{label,inst,img}}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(parser.prog, lambda: synthesize(args))


if __name__ == "__main__":
    sys.exit(main())
