# SPDX-License-Identifier: Apache-2.0
"""p2phd-serve as a user starts it: a real uvicorn process on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

pytest.importorskip("uvicorn", reason="needs the serve extra (uvicorn)")

from tests.serve_helpers import PACKAGE_ROOT, save_tiny_feature_bundle, serve_process  # noqa: E402


def test_serves_on_loopback_and_says_so(tmp_path):
    model = save_tiny_feature_bundle(tmp_path / "tiny")
    log = tmp_path / "serve.log"
    with serve_process(str(model), "--scene-size", "32x64", log_path=log) as url:
        assert url.startswith("http://127.0.0.1:")
        assert "this machine only" in log.read_text()
        session = httpx.post(f"{url}/api/sessions", json={"seed": 1}).json()
        image = httpx.get(f"{url}/api/sessions/{session['id']}/render.png")
        assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
        assert "p2phd editor" in httpx.get(url).text


def test_a_missing_model_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "p2phd.cli.serve", str(tmp_path / "nothing"), "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
        timeout=120,
    )
    assert result.returncode == 1
    assert "no such model" in result.stderr and "Traceback" not in result.stderr
