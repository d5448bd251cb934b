# SPDX-License-Identifier: Apache-2.0
"""What to render: one job per label map, named as the local folder render names it, and the
per-map seed that makes feature-model styles independent of who renders the map."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from p2phd.cli.render import Job

MapPaths = tuple[str | os.PathLike, str | os.PathLike | None]


def map_seed(name: str, seed: int | None) -> int:
    """The seed of one map's instance styles, from the map's file name and the run's seed
    (None counts as 0): the same map gets the same styles in any process, actor or batch."""
    digest = hashlib.blake2b(f"{seed or 0}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # 63 bits: fits a signed int64 column


def plan_maps(
    source: str | os.PathLike | Sequence[MapPaths], out: str | os.PathLike, phase: str = "test"
) -> list[Job]:
    """Jobs for a dataset root in the public layout (`test_label/`, `test_inst/`), a folder
    of label maps, or (labels, instances or None) path pairs; outputs go to `out` under the
    names `p2phd-render MODEL DATASET --out DIR` writes."""
    # Imported here: p2phd-render imports this package; its naming is the one to match.
    from p2phd.cli.render import Job, output_name, plan_jobs

    out = Path(out)
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if not root.is_dir():
            raise ValueError(f"{root}: not a folder of label maps or a dataset root")
        jobs = plan_jobs(root, out, None, phase)
    else:
        jobs = [
            Job(
                Path(labels),
                None if instances is None else Path(instances),
                out / output_name(Path(labels)),
            )
            for labels, instances in source
        ]
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.out in seen:
            raise ValueError(f"{seen[job.out]} and {job.labels} would both be written to {job.out}")
        seen[job.out] = job.labels
    return jobs


def pending(jobs: Sequence[Job], overwrite: bool) -> list[Job]:
    """The jobs still to do: all with `overwrite`, else those whose output does not exist."""
    return list(jobs) if overwrite else [job for job in jobs if not job.out.exists()]
