# SPDX-License-Identifier: Apache-2.0
"""The maps a render of many files works through, wherever it runs (p2phd-render, Ray): one
Job per label map with its instance map (public layout: test_label/ -> test_inst/,
*_labelIds.png -> *_instanceIds.png) and its output path, and the per-map seed that makes a
feature model's styles independent of who renders the map."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

LABEL_SUFFIX = "_labelIds"  # Cityscapes: <city>_<seq>_<frame>_gtFine_labelIds.png


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


def plan_jobs(source: Path, out: Path, instances: Path | None, phase: str) -> list[Job]:
    if source.is_file():
        return [Job(source, instances or instance_path_for(source), out)]
    label_dir = source / f"{phase}_label" if (source / f"{phase}_label").is_dir() else source
    labels = sorted(p for p in label_dir.iterdir() if p.suffix.lower() == ".png")
    return [Job(p, instance_path_for(p), out / output_name(p)) for p in labels]


def map_seed(name: str, seed: int | None) -> int:
    """The seed of one map's instance styles, from the map's file name and the run's seed
    (None counts as 0): the same map gets the same styles in any process, actor or batch."""
    digest = hashlib.blake2b(f"{seed or 0}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # 63 bits: fits a signed int64 column
