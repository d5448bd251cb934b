# SPDX-License-Identifier: Apache-2.0
"""Time Runtime.render on real Cityscapes maps: wall time and process CPU time per render.

  python tools/render_times.py CITYSCAPES_DIR MODEL[:BACKEND[:WIDTH[:COUNT]]] ...

CITYSCAPES_DIR holds test_label/ and test_inst/ (the public layout). For each model: the first
COUNT maps (default 4), all read before the timing, the first render a warm-up, then the
median of the others (bench.timing). WIDTH scales the maps first as `p2phd-render --resize
WIDTH` does ("full" keeps 2048). The CPU time sums all threads of the process, so it shows
what a render costs even on a machine busy with other work, where the wall time does not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from p2phd.bench import timing
from p2phd.cli.render import scale_width
from p2phd.image_io import read_instance_map, read_label_map
from p2phd.runtime import Runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cityscapes", type=Path, help="folder with test_label/ and test_inst/")
    parser.add_argument("cases", nargs="+", help="MODEL[:BACKEND[:WIDTH[:COUNT]]]")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args(argv)
    label_paths = sorted((args.cityscapes / "test_label").glob("*_labelIds.png"))
    for case in args.cases:
        print(_time_case(case, args.cityscapes, label_paths, args.device), flush=True)
    return 0


def _time_case(case: str, cityscapes: Path, label_paths: list[Path], device: str) -> str:
    """The line of one MODEL[:BACKEND[:WIDTH[:COUNT]]] case."""
    model, backend, width, count = _parse_case(case)
    runtime = Runtime(model, device=device, backend=backend)
    maps = [_read_maps(cityscapes, path, width) for path in label_paths[:count]]
    next_maps = iter(maps)  # each call renders the next map, the first in the warm-up

    def render_next() -> None:
        runtime.render(*next(next_maps), seed=0)

    measurement = timing.measure([render_next], len(maps) - 1, warmup=1)
    samples = measurement.samples[0]
    each = ", ".join(f"{ms / 1e3:.2f}" for ms in samples.wall_ms)
    height, map_width = maps[-1][0].shape
    return (
        f"{case}: {height}x{map_width}, {runtime.backend} on {runtime.device}: "
        f"wall median {samples.median_ms / 1e3:.2f} s ({each}), "
        f"process CPU median {samples.median_cpu_ms / 1e3:.2f} s, "
        f"load average {measurement.load_after:.1f}"
    )


def _read_maps(
    cityscapes: Path, label_path: Path, width: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """A label map and its instance map, scaled to `width` unless it is None."""
    instance_name = label_path.name.replace("labelIds", "instanceIds")
    labels = read_label_map(label_path)
    instances = read_instance_map(cityscapes / "test_inst" / instance_name)
    if width is not None:
        labels, instances = scale_width(labels, width), scale_width(instances, width)
    return labels, instances


def _parse_case(case: str) -> tuple[str, str, int | None, int]:
    parts = case.split(":")
    model, backend, width, count = parts + ["auto", "full", "4"][len(parts) - 1 :]
    if int(count) < 2:
        raise SystemExit(f"{case}: COUNT must be at least 2 (a warm-up and a timed render)")
    return model, backend, None if width == "full" else int(width), int(count)


if __name__ == "__main__":
    sys.exit(main())
