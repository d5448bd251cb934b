# SPDX-License-Identifier: Apache-2.0
"""A reinstall with another extra reuses the first build: pip builds in a new isolated
environment each time, and nothing the first install compiled is compiled again."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["CMakeLists.txt", "pyproject.toml", "README.md", "LICENSE", "csrc", "kernels", "python"]
COMPILED = re.compile(r"Building (CXX|CUDA) object|Linking CXX")


def _pip_install(venv: Path, target: str, log: Path) -> tuple[float, list[str]]:
    """Seconds of `pip install TARGET` and the compile/link steps its build ran."""
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "-v", "--no-deps"]
    command += ["-Ccmake.define.P2PHD_CUDA=OFF", target]
    # CPU only, whatever CI asks of its own build (CMAKE_ARGS=-DP2PHD_CUDA=ON): the rule is
    # the same for the CUDA objects, and compiling them twice would cost minutes.
    environment = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "CUDAARCHS")}
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, env=environment)
    seconds = time.perf_counter() - start
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, f"pip install {target} failed, see {log}"
    output = result.stdout + result.stderr  # the build's lines reach either, by pip version
    return seconds, [line.strip() for line in output.splitlines() if COMPILED.search(line)]


def test_a_reinstall_with_each_extra_compiles_nothing(tmp_path):
    source = tmp_path / "p2phd"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info")
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)

    first_seconds, first_steps = _pip_install(venv, str(source), tmp_path / "first.log")
    assert any("Linking" in step for step in first_steps), "the first install built nothing"
    for extra in ("serve", "export"):
        seconds, steps = _pip_install(venv, f"{source}[{extra}]", tmp_path / f"{extra}.log")
        assert not steps, f"reinstall with [{extra}] compiled again: {steps}"
        print(f"first install {first_seconds:.0f} s, reinstall with [{extra}] {seconds:.0f} s")
