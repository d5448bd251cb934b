# SPDX-License-Identifier: Apache-2.0
"""Shared by the p2phd-serve tests: a tiny feature model, PNG helpers, and a real
p2phd-serve process on a free loopback port."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

import p2phd
from p2phd import checkpoint
from p2phd.models import GeneratorConfig, build_generator
from p2phd.models.encoder import Encoder, EncoderConfig

# The folder that holds the p2phd package this test run imports (installed or in-place), for
# subprocesses: the source tree's python/ lacks the native module in an installed run.
PACKAGE_ROOT = str(Path(p2phd.__file__).resolve().parents[1])
FEATURE = GeneratorConfig(
    ngf=4, n_downsample_global=1, n_blocks_global=1, instance_feat=True, feat_num=3
)


def save_tiny_feature_bundle(path: Path, encoder: bool = False) -> Path:
    """A small generator with instance features and 10 clusters for cars and people, and
    with `encoder` a small feature encoder too."""
    torch.manual_seed(1)
    clusters = {
        26: np.linspace(-1, 1, 30, dtype=np.float32).reshape(10, 3),
        24: np.linspace(1, -1, 30, dtype=np.float32).reshape(10, 3),
    }
    encoder_config = EncoderConfig(feat_num=3, nef=4, n_downsample=1) if encoder else None
    model = checkpoint.LoadedModel(
        config=FEATURE,
        generator=build_generator(FEATURE),
        encoder=Encoder.from_config(encoder_config) if encoder_config else None,
        encoder_config=encoder_config,
        clusters=clusters,
    )
    checkpoint.save_bundle(model, path)
    return path


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image)


@contextlib.contextmanager
def serve_process(*args: str, log_path: Path, timeout: float = 120) -> Iterator[str]:
    """Runs `p2phd-serve --port 0 ARGS` and yields its base URL once /health answers 200.
    The server's log is in `log_path`; it is printed if the server does not come up."""
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "p2phd.cli.serve", "--port", "0", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        url = _wait_until_healthy(process, log_path, timeout)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(process: subprocess.Popen, log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"p2phd-serve exited early:\n{log_path.read_text()}")
        if url is None:
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", log_path.read_text())
            url = found.group(1) if found else None
        if url is not None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    return url
        time.sleep(0.1)
    raise RuntimeError(f"p2phd-serve not healthy after {timeout} s:\n{log_path.read_text()}")
