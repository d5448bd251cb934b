# SPDX-License-Identifier: Apache-2.0
"""Shared test fixtures: devices to run on and the real Cityscapes samples in ../shared."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session", autouse=True)
def openvino_cache(tmp_path_factory: pytest.TempPathFactory):
    """Models converted for OpenVINO are cached in a folder of this test session, not in the
    user's cache; the processes that tests start share it."""
    previous = os.environ.get("P2PHD_CACHE_DIR")
    os.environ["P2PHD_CACHE_DIR"] = str(tmp_path_factory.mktemp("p2phd-cache"))
    yield Path(os.environ["P2PHD_CACHE_DIR"])
    if previous is None:
        del os.environ["P2PHD_CACHE_DIR"]
    else:
        os.environ["P2PHD_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def cityscapes() -> list[tuple[str, np.ndarray, np.ndarray]]:
    return cityscapes_pairs()
