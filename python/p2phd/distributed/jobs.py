# SPDX-License-Identifier: Apache-2.0
"""What a Ray job renders: one job per label map, named as the local folder render names it
(p2phd.map_jobs), and the jobs whose output is still missing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from p2phd.map_jobs import Job, check_outputs, output_name, plan_jobs

MapPaths = tuple[str | os.PathLike, str | os.PathLike | None]


def plan_maps(
    source: str | os.PathLike | Sequence[MapPaths], out: str | os.PathLike, phase: str = "test"
) -> list[Job]:
    """Jobs for a dataset root in the public layout (`test_label/`, `test_inst/`), a folder
    of label maps, or (labels, instances or None) path pairs; outputs go to `out` under the
    names `p2phd-render MODEL DATASET --out DIR` writes."""
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
    check_outputs(jobs)
    return jobs


def pending(jobs: Sequence[Job], overwrite: bool) -> list[Job]:
    """The jobs still to do: all with `overwrite`, else those whose output does not exist."""
    return list(jobs) if overwrite else [job for job in jobs if not job.out.exists()]
