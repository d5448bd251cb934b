# SPDX-License-Identifier: Apache-2.0
"""Time Runtime.render on real Cityscapes maps: wall time and process CPU time per render.

  python tools/render_times.py CITYSCAPES_DIR MODEL[:BACKEND[:WIDTH[:COUNT]]] ...

CITYSCAPES_DIR holds test_label/ and test_inst/ (the public layout). For each model: the first
COUNT maps (default 4), the first render a warm-up, then the median of the others. WIDTH
scales the maps first as `p2phd-render --resize WIDTH` does ("full" keeps 2048). The CPU
time sums all threads of the process, so it shows what a render costs even on a machine
busy with other work, where the wall time does not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

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
        model, backend, width, count = _parse_case(case)
        runtime = Runtime(model, device=args.device, backend=backend)
        walls, cpus = [], []
        for index, label_path in enumerate(label_paths[:count]):
            instance_name = label_path.name.replace("labelIds", "instanceIds")
            labels = read_label_map(label_path)
            instances = read_instance_map(args.cityscapes / "test_inst" / instance_name)
            if width is not None:
                labels, instances = scale_width(labels, width), scale_width(instances, width)
            wall, cpu = time.perf_counter(), time.process_time()
            runtime.render(labels, instances, seed=0)
            if index:  # the first render is the warm-up
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
        each = ", ".join(f"{w:.2f}" for w in walls)
        print(
            f"{case}: {labels.shape[0]}x{labels.shape[1]}, {runtime.backend} on {runtime.device}: "
            f"wall median {statistics.median(walls):.2f} s ({each}), "
            f"process CPU median {statistics.median(cpus):.2f} s, "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return 0


def _parse_case(case: str) -> tuple[str, str, int | None, int]:
    parts = case.split(":")
    model, backend, width, count = parts + ["auto", "full", "4"][len(parts) - 1 :]
    if int(count) < 2:
        raise SystemExit(f"{case}: COUNT must be at least 2 (a warm-up and a timed render)")
    return model, backend, None if width == "full" else int(width), int(count)


if __name__ == "__main__":
    sys.exit(main())
