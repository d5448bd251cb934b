# SPDX-License-Identifier: Apache-2.0
"""The CPU ops run on several threads (threads=) with the same results as on one, let other
Python threads run while they work (the GIL is released), and survive fork()."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import p2phd
from p2phd import ops
from tests.test_native_safety import run_isolated

RNG = np.random.default_rng(7)


class _Inputs(dict):
    """The arrays the ops read, for N x H x W maps, each made on first use."""

    def __init__(self, n: int, h: int, w: int) -> None:
        super().__init__()
        self.shape = (n, h, w)

    def __missing__(self, key: str) -> np.ndarray:
        n, h, w = self.shape
        makers = {
            "labels": lambda: RNG.integers(0, 35, (n, h, w), dtype=np.int32),
            "instances": lambda: RNG.integers(0, 40, (n, h, w), dtype=np.int32),
            "features": lambda: RNG.random((n, 3, h, w), dtype=np.float32) - 0.5,
            "y": lambda: RNG.random((n, 3, h, w), dtype=np.float32) * 2.4 - 1.2,
            "weight": lambda: RNG.random((16, 39, 3, 3), dtype=np.float32) - 0.5,
            "out_weight": lambda: RNG.random((3, 3, 3, 3), dtype=np.float32) - 0.5,
        }
        self[key] = makers[key]()
        return self[key]


# Each op on given inputs and a thread count. Shapes are odd so that the splits are uneven.
OPS: dict[str, Callable[[_Inputs, int | None], np.ndarray]] = {
    "one_hot": lambda a, t: ops.one_hot(a["labels"], 35, threads=t),
    "instance_edges": lambda a, t: ops.instance_edges(a["instances"], threads=t),
    "generator_input": lambda a, t: ops.generator_input(
        a["labels"], a["instances"], 35, features=a["features"], threads=t
    ),
    "instance_mean": lambda a, t: ops.instance_mean(a["features"], a["instances"], threads=t),
    "instance_broadcast": lambda a, t: ops.instance_broadcast(
        a["instances"],
        np.arange(0, 40, 2, dtype=np.int32),
        a["features"][0, :, 0, :20].T.copy(),
        threads=t,
    ),  # fmt: skip
    "to_uint8_image": lambda a, t: ops.to_uint8_image(a["y"], threads=t),
    "label_conv": lambda a, t: ops.label_conv(
        a["labels"], a["weight"], None, 35, features=a["features"], edges=a["y"][:, :1], threads=t
    ),
    "label_conv_pooled": lambda a, t: ops.label_conv(
        a["labels"], a["weight"][:, :35], None, 35, pool=True, threads=t
    ),
    "instance_norm": lambda a, t: ops.instance_norm(a["features"], relu=True, pad=3, threads=t),
    "output_conv": lambda a, t: ops.output_conv(a["y"], a["out_weight"], None, threads=t),
}


def _compiler_has_openmp(tmp_path: Path) -> str | None:
    """None when the C++ compiler a build would use compiles an OpenMP program, else why not."""
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        return "no C++ compiler on PATH to tell whether the build could have OpenMP"
    source = tmp_path / "probe.cpp"
    source.write_text(
        "#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n"
    )
    probe = [compiler, "-fopenmp", str(source), "-o", str(tmp_path / "probe")]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return f"{compiler} has no OpenMP (-fopenmp fails): the ops run on one thread"
    return None


def test_openmp_is_compiled_in_where_the_compiler_has_it(tmp_path):
    reason = _compiler_has_openmp(tmp_path)
    if reason:
        pytest.skip(reason)
    assert p2phd.build_info()["openmp"], "the compiler has OpenMP but the build left it out"


@pytest.mark.skipif(not p2phd.build_info()["openmp"], reason="a build without OpenMP")
def test_threads_run_the_op_on_that_many_os_threads():
    # A fresh process: the OpenMP pool a parallel op starts stays, one OS thread per worker.
    result = run_isolated(
        """
        import os
        import numpy as np
        from p2phd import ops
        labels = np.zeros((3, 97, 231), np.int32)
        before = len(os.listdir("/proc/self/task"))
        ops.one_hot(labels, 35, threads=3)
        print(len(os.listdir("/proc/self/task")) - before)
        """
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 2, "threads=3 ran on fewer than 3 OS threads"


@pytest.mark.parametrize("name", OPS)
def test_thread_counts_give_identical_results(name):
    inputs = _Inputs(3, 97, 231)  # above every op's grain, so that 2 and 3 threads split it
    single = OPS[name](inputs, 1)
    for threads in (2, 3):
        np.testing.assert_array_equal(OPS[name](inputs, threads), single)


def test_errors_are_reported_from_any_thread():
    labels = np.zeros((3, 97, 231), np.int32)
    labels[2, 96, 230] = 99  # in the last thread's rows
    with pytest.raises(ValueError, match="label 99 is outside"):
        ops.one_hot(labels, 35, threads=3)


def test_default_threads_give_the_same_result_at_any_torch_setting():
    import torch

    inputs = _Inputs(1, 64, 80)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = OPS["label_conv"](inputs, None)
    finally:
        torch.set_num_threads(previous)
    np.testing.assert_array_equal(single, OPS["label_conv"](inputs, None))


# Inputs for which each op works long enough (tens of ms on one thread) for another thread to
# be seen running in the middle of it.
LONG_INPUTS = {
    "one_hot": (1, 700, 1024),
    "instance_edges": (12, 1024, 1024),
    "generator_input": (1, 700, 1024),
    "instance_mean": (2, 700, 1024),
    "instance_broadcast": (4, 1024, 1024),
    "to_uint8_image": (2, 1024, 1024),
    "label_conv": (1, 256, 512),
    "label_conv_pooled": (1, 512, 512),
    "instance_norm": (2, 700, 1024),
    "output_conv": (1, 400, 640),
}


@pytest.mark.parametrize("name", OPS)
def test_other_python_threads_run_during_an_op(name):
    inputs = _Inputs(*LONG_INPUTS[name])
    OPS[name](inputs, 1)  # makes the inputs: only the op itself runs in the timed window
    stamps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            stamps.append(time.perf_counter())

    # A short switch interval keeps the hand-overs around the op's Python prologue and epilogue
    # (where the ticker may run either way) short against its native middle.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        time.sleep(0.01)
        start = time.perf_counter()
        OPS[name](inputs, 1)
        end = time.perf_counter()
    finally:
        stop.set()
        ticker.join()
        sys.setswitchinterval(interval)
    # With the GIL held by the op, the ticker could run only in the op's Python prologue and
    # epilogue, never in the middle of its native part.
    middle = [t for t in stamps if start + 0.25 * (end - start) < t < end - 0.25 * (end - start)]
    assert len(middle) > 10, f"{len(middle)} ticks in the middle of a {end - start:.3f} s op"


def test_a_forked_child_can_run_the_ops():
    # GNU OpenMP's threads do not survive fork(): without care, the child hangs.
    result = run_isolated(
        """
        import os
        import numpy as np
        from p2phd import ops
        y = np.zeros((2, 3, 300, 300), np.float32)
        ops.to_uint8_image(y, threads=2)
        pid = os.fork()
        if pid == 0:
            ops.to_uint8_image(y, threads=2)
            ops.instance_norm(y, threads=2)
            os._exit(0)
        print("child exit", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """
    )
    assert result.returncode == 0 and "child exit 0" in result.stdout, result.stderr
