# SPDX-License-Identifier: Apache-2.0
"""Time Runtime.render of one synthetic scene in each precision, and compare its image with
the fp32 render: which precision to serve on this machine, and what it costs in pixels.

  python tools/compare_precisions.py [MODEL] [--size HxW] [--precisions fp32,bf16] [--runs N]

MODEL defaults to the demo model. The precisions are timed interleaved (bench.timing): one
warm-up round, then --runs rounds of one render in each precision, the median of each (wall
time, this process's torch threads); then the mean and largest difference from the fp32
image, in levels of 255, and the load average before and after the rounds.
"""

from __future__ import annotations

import argparse
import functools

import numpy as np

from p2phd.bench import timing
from p2phd.cli.common import scene_size
from p2phd.data.synthetic import synthetic_scene
from p2phd.runtime import Runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="demo", help="default: the demo model")
    parser.add_argument("--size", type=scene_size, default=(256, 512), help="scene HxW")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated")
    parser.add_argument("--runs", type=int, default=7, help="timed renders per precision")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    scene = synthetic_scene(0, *args.size)
    instances = scene.instances.astype(np.int32)
    reference = Runtime(args.model, device=args.device, precision="fp32")
    truth = reference.render(scene.labels, instances).astype(np.int16)
    precisions = args.precisions.split(",")
    runtimes = [Runtime(args.model, device=args.device, precision=p) for p in precisions]
    renders = [functools.partial(r.render, scene.labels, instances) for r in runtimes]
    measurement = timing.measure(renders, args.runs, warmup=1)
    for precision, runtime, samples in zip(precisions, runtimes, measurement.samples, strict=True):
        difference = np.abs(runtime.render(scene.labels, instances).astype(np.int16) - truth)
        print(
            f"{precision}: median {samples.median_ms:.1f} ms over {args.runs} renders at "
            f"{args.size[0]}x{args.size[1]} ({runtime.describe()}); against fp32: mean "
            f"{difference.mean():.3f} levels, largest {int(difference.max())}",
            flush=True,
        )
    print(f"load average {measurement.load_before:.1f} -> {measurement.load_after:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
