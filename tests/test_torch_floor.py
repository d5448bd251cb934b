# SPDX-License-Identifier: Apache-2.0
"""The torch version p2phd needs is declared in pyproject.toml and checked at import."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import p2phd

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "version", ["2.5.0", "2.5.1+cu124", "2.6.0a0+git1234", "2.13.0+cpu", "3.0"]
)
def test_supported_versions_pass(version):
    p2phd.check_torch_version(version)


@pytest.mark.parametrize("version", ["2.4.1", "2.1.0+cu121", "1.13.1", "unknown"])
def test_older_versions_are_refused_naming_the_floor(version):
    with pytest.raises(
        ImportError, match=rf"p2phd needs torch>=2\.5, but torch {re.escape(version)} is"
    ):
        p2phd.check_torch_version(version)


def test_pyproject_declares_the_same_floor():
    dependencies = re.search(r"^dependencies = (.*)$", (ROOT / "pyproject.toml").read_text(), re.M)
    floor = ".".join(map(str, p2phd.TORCH_FLOOR))
    assert f'"torch>={floor}"' in dependencies[1]


def test_import_on_an_older_torch_fails_with_the_floor():
    # A fresh interpreter in which torch reports 2.4.1: `import p2phd` must stop there.
    code = "import torch; torch.__version__ = '2.4.1'; import p2phd"
    # The package this run imports (installed or in-place), not the source tree's copy.
    env = {**os.environ, "PYTHONPATH": str(Path(p2phd.__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode != 0
    assert "ImportError: p2phd needs torch>=2.5, but torch 2.4.1 is installed" in done.stderr
