# SPDX-License-Identifier: Apache-2.0
"""p2phd-preview: render a label map's one-hot encoding and its instance boundaries to PNG.

Without --labels it uses a built-in synthetic street scene, so it runs on a fresh install.
The left panel colours each one-hot channel with its Cityscapes colour; the right panel
shows the instance boundaries that the generator receives as its extra input channel.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from p2phd import ops
from p2phd.atomic import remove_stale_temporaries
from p2phd.cli.common import (
    Parser,
    check_not_an_input,
    check_output_file,
    int_at_least,
    non_negative_int,
    run_parsed,
    scene_size,
    write_image,
)
from p2phd.data.synthetic import CITYSCAPES_PALETTE, NUM_LABELS, synthetic_scene
from p2phd.image_io import read_instance_map, read_label_map


def preview_image(labels: np.ndarray, instances: np.ndarray, label_nc: int) -> np.ndarray:
    """An H x 2W x 3 uint8 picture: coloured one-hot channels | instance boundaries."""
    one_hot = ops.one_hot(labels, label_nc)
    palette = np.zeros((label_nc, 3), np.float32)
    known = min(label_nc, len(CITYSCAPES_PALETTE))
    palette[:known] = CITYSCAPES_PALETTE[:known]
    colours = np.tensordot(palette.T, one_hot, axes=1)  # 3 x H x W
    edges = ops.instance_edges(instances)[0]
    left = np.where(edges > 0, 255.0, colours).transpose(1, 2, 0)
    right = np.repeat(edges[..., None] * 255.0, 3, axis=2)
    return np.concatenate([left, right], axis=1).astype(np.uint8)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="p2phd-preview", description=__doc__)
    parser.add_argument("--labels", help="label map PNG (default: a synthetic scene)")
    parser.add_argument(
        "--instances", help="instance map PNG (default: the labels, so class borders show)"
    )
    parser.add_argument(
        "--label-nc", type=int_at_least(1), default=NUM_LABELS, help="number of classes"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="synthetic scene seed")
    parser.add_argument("--size", type=scene_size, default=(256, 512), help="synthetic scene HxW")
    parser.add_argument("--out", required=True, help="PNG to write")
    return parser


def preview(args: argparse.Namespace) -> int:
    out = check_output_file(args.out, "--out")
    check_not_an_input(out, [args.labels, args.instances])
    start = time.perf_counter()
    if args.labels:
        labels = read_label_map(args.labels)
        if args.instances:
            instances = read_instance_map(args.instances)
        else:
            instances = labels.astype(np.int32)
        source = args.labels
    else:
        height, width = args.size
        scene = synthetic_scene(args.seed, height, width)
        labels, instances = scene.labels, scene.instances
        source = f"synthetic scene {args.seed} ({height}x{width})"
    if instances.shape != labels.shape:
        raise ValueError(
            f"labels are {labels.shape[0]}x{labels.shape[1]} but instances are "
            f"{instances.shape[0]}x{instances.shape[1]}"
        )
    remove_stale_temporaries(out)  # what a killed preview of this file left
    write_image(out, preview_image(labels, instances, args.label_nc))
    elapsed = time.perf_counter() - start
    print(f"{out}: one-hot and instance edges of {source}, {elapsed:.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_parsed(build_parser(), preview, argv)


if __name__ == "__main__":
    sys.exit(main())
