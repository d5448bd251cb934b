# SPDX-License-Identifier: Apache-2.0
"""p2phd-bench serve runs its load test against real server processes at a tiny size."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("uvicorn", reason="needs the serve extra (uvicorn)")

from p2phd.cli import bench  # noqa: E402
from tests.serve_helpers import save_tiny_feature_bundle  # noqa: E402


@pytest.mark.parametrize("kind", ["edit", "render"])
def test_serve_load_table_and_json(tmp_path, capsys, kind):
    model = save_tiny_feature_bundle(tmp_path / "tiny")
    out = tmp_path / "serve.json"
    argv = ["serve", str(model), "--kind", kind, "--size", "32x64", "--clients", "3"]
    argv += ["--requests", "9", "--max-wait-ms", "50", "--json", str(out)]
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    assert "no batching" in table and "p99 ms" in table
    bare, batched, alone = json.loads(out.read_text())["timings"]
    assert bare["kind"] == "in-process" and bare["p50_ms"] > 0
    for row in (batched, alone):
        assert (row["done"], row["errors"], row["kind"]) == (9, 0, kind)
        assert row["p99_ms"] >= row["p50_ms"] > 0
    # Without batching every map is its own runtime call; with three clients waiting on
    # each other's maps for up to 50 ms, the queue must have put some of them together.
    assert alone["mean_batch"] == 1.0 and alone["runtime_calls"] >= 9
    assert batched["mean_batch"] > 1.0, batched
    assert batched["runtime_calls"] < alone["runtime_calls"], (batched, alone)
