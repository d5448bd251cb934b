# SPDX-License-Identifier: Apache-2.0
"""Shared test fixtures: devices to run on, the real Cityscapes samples in ../shared, and
one local Ray cluster for the whole run."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import p2phd

SHARED = Path(os.environ.get("P2PHD_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CITYSCAPES = SHARED / "data" / "cityscapes_samples"
CUDA_READY = torch.cuda.is_available() and p2phd.build_info()["cuda"]

# Every op test runs on the CPU, and on CUDA where a GPU and a CUDA build are present.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs a CUDA GPU and a CUDA build of p2phd")
    for item in items:
        if "cuda" in item.keywords and not CUDA_READY:
            item.add_marker(skip)


# In CI (CI=true, as .ci/run sets) everything these reasons name is installed: a skip for
# one of them means the run did not test what it claims, so it fails instead.
CI = os.environ.get("CI", "").lower() == "true"
CI_REQUIRED = re.compile(
    r"chromium|playwright|\bray\b|extra|not installed|could not import|cityscapes samples",
    re.IGNORECASE,
)


def ci_forbids_skip(reason: str) -> bool:
    return CI and bool(CI_REQUIRED.search(reason))


def _skip_reason(longrepr: object) -> str:
    return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and ci_forbids_skip(_skip_reason(report.longrepr)):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where it must run: {_skip_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and ci_forbids_skip(_skip_reason(report.longrepr)):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where it must run: {_skip_reason(report.longrepr)}"


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.array(image)


def cityscapes_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, labels uint8 H x W, instances uint16 H x W) for the 15 test pairs, or a skip."""
    label_dir, instance_dir = CITYSCAPES / "test_label", CITYSCAPES / "test_inst"
    if not label_dir.is_dir() or not instance_dir.is_dir():
        pytest.skip(f"Cityscapes samples not found under {CITYSCAPES}")
    pairs = []
    for label_path in sorted(label_dir.glob("*_labelIds.png")):
        stem = label_path.name.replace("_labelIds.png", "")
        labels = _read_png(label_path)
        instances = _read_png(instance_dir / f"{stem}_instanceIds.png")
        pairs.append((stem, labels, instances))
    assert len(pairs) == 15, f"expected 15 Cityscapes pairs, found {len(pairs)}"
    return pairs


@pytest.fixture(scope="session")
def cityscapes() -> list[tuple[str, np.ndarray, np.ndarray]]:
    return cityscapes_pairs()


@pytest.fixture(scope="session")
def ray_cluster():
    """One local cluster for every Ray test of the run: 2 CPUs as on CI, no dashboard, a
    small object store."""
    ray = pytest.importorskip("ray", reason="needs the p2phd[ray] extra")
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        object_store_memory=150 * 2**20,
        logging_level="WARNING",
    )
    yield ray
    ray.shutdown()
