# SPDX-License-Identifier: Apache-2.0
"""p2phd-bench render through Runtime's public API: stage rows from RenderProfile, the
onnxruntime row, H x W sizes and a line before each size and long step (issue 14)."""

from __future__ import annotations

import json

import pytest

from p2phd.cli import bench


def test_render_bench_rows_sizes_and_progress(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "render.json"
    argv = ["render", "--arch", "tiny", "--device", "cpu", "--sizes", "16x40", "--batches", "1"]
    argv += ["--precisions", "fp32"]
    argv += ["--runs", "2", "--warmup", "1", "--compile", "none", "--json", str(out)]
    assert bench.main(argv) == 0
    rows = {row["case"]: row for row in json.loads(out.read_text())["timings"]}
    for stage in ("preprocess", "generator", "postprocess"):
        assert rows[f"p2phd {stage} (fp32)"]["median_ms"] > 0
    onnx = rows["p2phd onnxruntime (fp32)"]
    assert onnx["psnr_db"] > 40 and (onnx["height"], onnx["width"]) == (16, 40)
    captured = capsys.readouterr()
    table = [line for line in captured.out.splitlines() if "(fp32)" in line]
    assert len(table) == len([case for case in rows if "(fp32)" in case])
    assert all(" 16x40 " in line for line in table)  # H x W, as --sizes takes it
    assert "p2phd-bench: tiny at 16x40, batch 1" in captured.err
    assert "exporting to ONNX for 1x16x40" in captured.err
    assert "load average " in captured.err  # the load the interleaved rounds ran under


def _cpu_table(tmp_path, arch: str, size: str, precisions: str) -> list[dict]:
    """The JSON rows of one quick CPU run of p2phd-bench render."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "render.json"
    argv = ["render", "--arch", arch, "--device", "cpu", "--sizes", size, "--runs", "1"]
    argv += ["--warmup", "1", "--precisions", precisions, "--json", str(out)]
    assert bench.main(argv) == 0
    record = json.loads(out.read_text())
    assert record["arguments"]["arch"] == arch
    return record["timings"]


def test_cpu_rows_per_backend_and_precision_beside_bare_openvino_and_onnxruntime(tmp_path):
    rows = {row["case"]: row for row in _cpu_table(tmp_path, "tiny", "16x40", "fp32,bf16")}
    for backend in ("openvino", "torch", "fused"):
        for precision in ("fp32", "bf16"):
            assert f"p2phd {backend} ({precision})" in rows
    for bare in ("bare OpenVINO f32 (export)", "bare OpenVINO bf16 (export)"):
        assert bare in rows
    assert "bare onnxruntime (export)" in rows and "p2phd onnxruntime (fp32)" in rows
    assert rows["p2phd torch (fp32)"]["max_abs_diff"] == 0  # the reference itself
    for name in (
        "p2phd openvino (fp32)",
        "bare OpenVINO f32 (export)",
        "bare onnxruntime (export)",
    ):
        assert rows[name]["mean_abs_diff"] <= 0.1 and rows[name]["max_abs_diff"] <= 4, name
    assert 0 < rows["p2phd openvino (bf16)"]["mean_abs_diff"] < 5


def test_stage_rows_add_up_to_the_profiled_render_and_cpu_rows_report_peak_rss(tmp_path, capsys):
    """Issue 26: the stages printed beside the untimed remainder ("other") add up to the
    profiled render's time, and the CPU rows give a memory figure (peak RSS)."""
    pytest.importorskip("onnxruntime")
    out = tmp_path / "render.json"
    argv = ["render", "--arch", "tiny", "--device", "cpu", "--sizes", "16x40", "--batches", "1"]
    argv += ["--precisions", "fp32", "--runs", "2", "--warmup", "1", "--json", str(out)]
    assert bench.main(argv) == 0
    printed = {}
    for line in capsys.readouterr().out.splitlines():
        if " 16x40 " in line:
            # The fixed-width columns: case, HxW, N, median, p90, img/s, memory.
            printed[line[:44].strip()] = (float(line[59:69]), line[89:97])
    parts = [f"p2phd {stage} (fp32)" for stage in ("preprocess", "generator", "postprocess")]
    parts.append("p2phd other (fp32)")
    total = printed["p2phd profiled openvino render (fp32)"][0]  # the CPU default backend
    assert sum(printed[part][0] for part in parts) == pytest.approx(total, abs=0.003)
    rows = {row["case"]: row for row in json.loads(out.read_text())["timings"]}
    for case in ("p2phd torch (fp32)", "p2phd openvino (fp32)", "public pipeline, FP32 eager"):
        assert rows[case]["peak_rss_mb"] > 0, case
        assert float(printed[case][1]) > 0, case


def test_the_bundled_demo_model_is_timed_with_its_features(tmp_path):
    # A feature model: the public pipeline and the bare rows take the feature map that
    # Runtime draws by default, so every fp32 row renders the torch reference's image.
    rows = {row["case"]: row for row in _cpu_table(tmp_path, "demo", "32x64", "fp32")}
    assert rows["public pipeline, FP32 eager"]["max_abs_diff"] <= 1
    for name in ("bare OpenVINO f32 (export)", "bare onnxruntime (export)"):
        assert rows[name]["mean_abs_diff"] <= 0.1 and rows[name]["max_abs_diff"] <= 4, name
