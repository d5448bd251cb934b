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
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from p2phd.cli.bench import parse_size
from p2phd.data.synthetic import synthetic_scene
from p2phd.image_io import write_png


def write_scene(root: Path, phase: str, seed: int, height: int, width: int) -> None:
    scene = synthetic_scene(seed, height, width)
    name = f"scene_{seed:06d}.png"
    write_png(root / f"{phase}_label" / name, scene.labels)
    write_png(root / f"{phase}_inst" / name, scene.instances.astype(np.uint16))
    write_png(root / f"{phase}_img" / name, scene.image)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2phd-synth", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("out", help="dataset root to write")
    parser.add_argument("--count", type=int, default=100, help="number of scenes (100)")
    parser.add_argument("--first-seed", type=int, default=0, help="seed of the first scene (0)")
    parser.add_argument("--size", type=parse_size, default=(256, 512), help="HxW (256x512)")
    parser.add_argument("--phase", default="train", help="folder prefix: train or test")
    parser.add_argument("--workers", type=int, default=None, help="processes (all cores)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.count < 1:
        build_parser().error("--count must be positive")
    root, (height, width) = Path(args.out), args.size
    seeds = range(args.first_seed, args.first_seed + args.count)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        jobs = [pool.submit(write_scene, root, args.phase, s, height, width) for s in seeds]
        interactive = sys.stderr.isatty()
        for done, job in enumerate(jobs, 1):
            job.result()
            if interactive:
                print(f"\r{done}/{args.count} scenes", end="", file=sys.stderr, flush=True)
    print(
        f"\r{args.count} scenes of {height}x{width} in {time.perf_counter() - start:.1f} s "
        f"-> {root}/{args.phase}_{{label,inst,img}}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
