# SPDX-License-Identifier: Apache-2.0
"""p2phd-train: train a pix2pixHD generator with the public train.py's options.

Single process: `p2phd-train --dataroot DATA --name NAME ...`. Several GPUs:
`torchrun --nproc_per_node=N -m p2phd.cli.train ...` (DistributedDataParallel, one GPU each).
Exit status: 0 trained, 1 failed while running (a checkpoint that cannot resume, no GPU ...),
2 bad usage (options, or a data set that does not fit them).
"""

from __future__ import annotations

import sys
from functools import partial

from p2phd.cli.common import Parser, UsageError, run_command
from p2phd.train.dataset import DatasetError
from p2phd.train.options import parse_options
from p2phd.train.trainer import run


def train(argv: list[str] | None) -> int:
    # The parser adds its own --version.
    opts = parse_options(argv, parser_class=partial(Parser, version=False))
    try:
        result = run(opts)
    except DatasetError as exc:
        raise UsageError(str(exc)) from exc
    if result.bundle is not None:
        state = "finished" if result.finished else "stopped"
        where = result.directory
        print(f"p2phd-train: {state} after {result.iterations} iterations; model in {where}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command("p2phd-train", lambda: train(argv))


if __name__ == "__main__":
    sys.exit(main())
