# SPDX-License-Identifier: Apache-2.0
"""p2phd-train: train a pix2pixHD generator with the public train.py's options.

Single process: `p2phd-train --dataroot DATA --name NAME ...`. Several GPUs:
`torchrun --nproc_per_node=N -m p2phd.cli.train ...` (DistributedDataParallel, one GPU each).
"""

from __future__ import annotations

import sys

from p2phd.train.dataset import DatasetError
from p2phd.train.options import parse_options
from p2phd.train.trainer import run


def main(argv: list[str] | None = None) -> int:
    opts = parse_options(argv)
    try:
        result = run(opts)
    except (DatasetError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"p2phd-train: error: {exc}", file=sys.stderr)
        return 2
    if result.bundle is not None:
        state = "finished" if result.finished else "stopped"
        where = result.directory
        print(f"p2phd-train: {state} after {result.iterations} iterations; model in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
