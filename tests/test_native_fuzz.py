# SPDX-License-Identifier: Apache-2.0
"""The fuzzer of the native ops' entry points (tests/fuzz_native_ops.py), with a fixed seed and
a bounded count, in a subprocess: a native crash fails this test instead of killing pytest."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.test_native_safety import run_isolated

FUZZER = Path(__file__).with_name("fuzz_native_ops.py")


def test_fuzzed_calls_never_crash_nor_write_where_they_must_not():
    code = f"""
        import runpy, sys, warnings
        warnings.simplefilter("ignore")
        sys.argv = ["fuzz", "--seed", "19", "--cases", "2000", "--seconds", "25"]
        runpy.run_path({str(FUZZER)!r}, run_name="__main__")
        """
    result = run_isolated(code)
    if result.returncode < 0:
        crash = signal.Signals(-result.returncode).name
        raise AssertionError(f"the fuzzer crashed with {crash}: {result.stderr[-2000:]}")
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
