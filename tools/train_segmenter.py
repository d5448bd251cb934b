#!/usr/bin/env python
# SPDX-License-Identifier: Apache-2.0
"""Trains the evaluation segmenter of `p2phd-bench quality` on synthetic scenes and writes it
to OUT_DIR (config.json + weights.safetensors); the shipped one, python/p2phd/segmenter/, is
this script's output with its defaults (BENCHMARKS.md says how long that takes). Usage:
    tools/train_segmenter.py [OUT_DIR] [--iterations N] [--seeds A-B] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from p2phd.quality.judge import save_segmenter
from p2phd.quality.training import TrainingOptions, score_on_photos, train_segmenter

HELD_OUT = range(100000, 100050)


def parse_range(text: str) -> range:
    first, _, last = text.partition("-")
    try:
        return range(int(first), int(last) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a seed range A-B, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    defaults = TrainingOptions()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument(
        "out_dir", nargs="?", default=str(Path("python/p2phd/segmenter")), help="output folder"
    )
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument(
        "--seeds",
        type=parse_range,
        default=defaults.seeds,
        help=f"training scenes A-B (default {defaults.seeds.start}-{defaults.seeds.stop - 1})",
    )
    parser.add_argument(
        "--held-out",
        type=parse_range,
        default=HELD_OUT,
        help="scenes scored at the end (the bench's default, 100000-100049)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.batch < 1:
        parser.error("--iterations and --batch must be at least 1")
    torch.set_num_threads(args.threads)
    options = TrainingOptions(seeds=args.seeds, iterations=args.iterations, batch=args.batch)
    model = train_segmenter(options)
    score = score_on_photos(model, args.held_out, options.scene_size)
    training = {
        "command": "tools/train_segmenter.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "seeds": f"{options.seeds.start}-{options.seeds.stop - 1}",
        "scene_size": list(options.scene_size),
        "iterations": options.iterations,
        "batch": options.batch,
        "learning_rate": options.learning_rate,
        "held_out": f"{args.held_out.start}-{args.held_out.stop - 1}",
        "held_out_pixel_accuracy": round(score.pixel_accuracy, 4),
        "held_out_mean_iou": round(score.mean_iou, 4),
    }
    save_segmenter(model, args.out_dir, training)
    print(
        f"held-out photos {training['held_out']}: pixel accuracy {score.pixel_accuracy:.2%}, "
        f"mean IoU {score.mean_iou:.4f}; saved to {args.out_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
