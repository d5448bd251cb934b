# SPDX-License-Identifier: Apache-2.0
"""The benchmarks' one timing loop (issue 25), on callables that only record their calls:
the order of the calls, what counts, and the statistics of known samples; no speeds."""

from __future__ import annotations

import pytest
import torch

from p2phd.bench import timing


def recorder(calls: list[str], name: str):
    return lambda: calls.append(name)


def test_rounds_call_the_candidates_in_turn_and_warmup_rounds_are_not_counted():
    calls: list[str] = []
    candidates = [recorder(calls, "a"), recorder(calls, "b"), recorder(calls, "c")]
    measurement = timing.measure(candidates, runs=3, warmup=2)
    assert calls == ["a", "b", "c"] * 5
    assert [len(s.wall_ms) for s in measurement.samples] == [3, 3, 3]
    assert [len(s.cpu_ms) for s in measurement.samples] == [3, 3, 3]


def test_without_warmup_every_call_is_timed():
    calls: list[str] = []
    measurement = timing.measure([recorder(calls, "a")], runs=4, warmup=0)
    assert calls == ["a"] * 4 and len(measurement.samples[0].wall_ms) == 4


def test_a_run_of_several_calls_gives_one_sample():
    calls: list[str] = []
    candidates = [recorder(calls, "a"), recorder(calls, "b")]
    measurement = timing.measure(candidates, runs=2, warmup=1, calls_per_run=3)
    assert calls == ["a", "b"] + (["a"] * 3 + ["b"] * 3) * 2  # warm-up: one call each
    assert [len(s.wall_ms) for s in measurement.samples] == [2, 2]


def test_statistics_of_known_samples():
    samples = timing.Samples(wall_ms=[5.0, 1.0, 4.0, 2.0, 3.0], cpu_ms=[2.0, 8.0, 4.0])
    assert samples.median_ms == 3.0
    assert samples.p90_ms == pytest.approx(4.6)  # linear between the 4th and 5th of 5
    assert samples.median_cpu_ms == 4.0
    assert timing.Samples(wall_ms=[1.0, 2.0, 3.0, 4.0]).median_ms == 2.5


def test_the_load_average_is_recorded_with_the_result():
    measurement = timing.measure([lambda: None], runs=1)
    assert measurement.load_before >= 0 and measurement.load_after >= 0


@pytest.mark.parametrize(
    "arguments", [{"runs": 0}, {"runs": 1, "warmup": -1}, {"runs": 1, "calls_per_run": 0}]
)
def test_nothing_to_time_is_refused(arguments):
    with pytest.raises(ValueError):
        timing.measure([lambda: None], **arguments)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_runs_are_timed_on_the_stream():
    x = torch.ones(256, 256, device="cuda")
    calls: list[str] = []

    def matmul() -> None:
        calls.append("matmul")
        x @ x

    measurement = timing.measure([matmul], runs=3, warmup=1, cuda=True, calls_per_run=2)
    assert len(calls) == 1 + 3 * 2
    assert all(ms > 0 for ms in measurement.samples[0].wall_ms)
