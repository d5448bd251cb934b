# SPDX-License-Identifier: Apache-2.0
"""Each op is found by its name alone: header, CPU file, CUDA file, binding, Python wrapper,
test, all present and all built."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPS = sorted(path.name.removesuffix("_cuda.cu") for path in (ROOT / "kernels").glob("*_cuda.cu"))


def test_there_are_ops():
    assert len(OPS) >= 9


@pytest.mark.parametrize("op", OPS)
def test_every_file_of_an_op_exists_and_is_built(op):
    files = [
        f"kernels/{op}.h",
        f"kernels/{op}_cuda.cu",
        f"csrc/{op}_cpu.cpp",
        f"csrc/{op}_binding.cpp",
        f"python/p2phd/ops/{op}.py",
        f"tests/test_{op}.py",
    ]
    assert [name for name in files if not (ROOT / name).is_file()] == []
    sources = (ROOT / "csrc" / "CMakeLists.txt").read_text()
    for name in (f"{op}_cpu.cpp", f"{op}_binding.cpp", f"kernels/{op}_cuda.cu"):
        assert name in sources, f"{name} is not in csrc/CMakeLists.txt"
    module = (ROOT / "csrc" / "bindings.cpp").read_text()
    assert f"bind_{op}(m);" in module
