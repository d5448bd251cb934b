# SPDX-License-Identifier: Apache-2.0
"""The maps a render of many files works through, wherever it runs (p2phd-render, Ray): one
Job per label map with its instance map (public layout: test_label/ -> test_inst/,
*_labelIds.png -> *_instanceIds.png) and its output path, and the manifest, beside the
outputs, that records what reproduces each of them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from p2phd.line_log import append_line, open_line_log

LABEL_SUFFIX = "_labelIds"  # Cityscapes: <city>_<seq>_<frame>_gtFine_labelIds.png
# One JSON object a line, one line per output written, appended as outputs are written.
MANIFEST_NAME = "p2phd-manifest.jsonl"

INSTANCE_SUFFIX = "_instanceIds"


class OutputCollision(ValueError):
    """Label maps whose images would be written to one file."""


@dataclass(frozen=True)
class Job:
    labels: Path
    instances: Path | None
    out: Path


def instance_path_for(labels: Path) -> Path | None:
    """The instance map of a label map in the public layout (test_label/ -> test_inst/,
    *_labelIds.png -> *_instanceIds.png), or None."""
    folder = labels.parent
    folders = [folder.with_name(folder.name.replace("_label", "_inst")), folder]
    names = [labels.name.replace("labelIds", "instanceIds"), labels.name]
    for candidate_folder in folders:
        for name in names:
            candidate = candidate_folder / name
            if candidate != labels and candidate.is_file():
                return candidate
    return None


def output_name(labels: Path) -> str:
    stem = labels.stem
    for suffix in (LABEL_SUFFIX, "_gtFine"):
        stem = stem.removesuffix(suffix)
    return f"{stem}.png"


def label_maps_in(folder: Path) -> list[Path]:
    """The label maps of a folder: its PNGs, less the *_instanceIds.png of a flat Cityscapes
    folder (one that holds *_labelIds.png too), which are the instance maps of those."""
    pngs = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if any(p.stem.endswith(LABEL_SUFFIX) for p in pngs):
        pngs = [p for p in pngs if not p.stem.endswith(INSTANCE_SUFFIX)]
    return pngs


def plan_jobs(source: Path, out: Path, instances: Path | None, phase: str) -> list[Job]:
    """The jobs of one map file or of a folder (a dataset root with {phase}_label/, or a
    folder of label maps); OutputCollision when two maps' images would share a file."""
    if source.is_file():
        jobs = [Job(source, instances or instance_path_for(source), out)]
    else:
        folder = source / f"{phase}_label" if (source / f"{phase}_label").is_dir() else source
        jobs = [Job(p, instance_path_for(p), out / output_name(p)) for p in label_maps_in(folder)]
    check_outputs(jobs)
    return jobs


def _key(path: Path) -> str:
    # Case folded: names that differ only in case are one file on many file systems.
    return os.path.realpath(path).casefold()


def check_outputs(jobs: list[Job]) -> None:
    """OutputCollision when two jobs write one file (the same name, or names that differ
    only in case), or when a job's output would replace one of the maps it reads."""
    inputs = {_key(p): p for job in jobs for p in (job.labels, job.instances) if p is not None}
    seen: dict[str, Job] = {}
    for job in jobs:
        key = _key(job.out)
        if key in inputs:
            raise OutputCollision(
                f"the image of {job.labels.name} would replace the map {inputs[key]}; give "
                "--out another file or folder"
            )
        first = seen.setdefault(key, job)
        if first is not job:
            raise OutputCollision(
                f"{first.labels.name} and {job.labels.name} would both be written to "
                f"{job.out}; rename one of them or render them into separate folders"
            )


def manifest_record(
    job: Job,
    provenance: Mapping[str, str],
    seed: int,
    style: Mapping[int, int] | None,
    resize: int | None = None,
) -> dict[str, Any]:
    """What reproduces one output: its maps (scaled to width `resize` first, if given),
    seed and styles, and the Runtime's provenance (model and its digest, backend, device,
    precision, rounding, p2phd version). A later line for the same output supersedes."""
    return {
        "output": job.out.name,
        "labels": str(job.labels.resolve()),
        "instances": None if job.instances is None else str(job.instances.resolve()),
        "seed": seed,
        "style": None if not style else {str(k): v for k, v in sorted(style.items())},
        "resize": resize,
        **provenance,
    }


def open_manifest(folder: Path) -> BinaryIO:
    """The manifest of `folder`, opened for appending (created where there is none): every
    line of it is a whole record, even after a run stopped while writing one (line_log)."""
    return open_line_log(folder / MANIFEST_NAME)


def append_manifest(manifest: BinaryIO, record: Mapping[str, Any]) -> None:
    """Appends one record as a line, straight to the file, so that a run stopped at any point
    leaves a manifest of exactly the outputs it wrote; a record that cannot be written whole
    (a full disk) is taken back and the OSError raised."""
    append_line(manifest, json.dumps(record, sort_keys=True))
