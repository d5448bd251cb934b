# SPDX-License-Identifier: Apache-2.0
"""p2phd-bench prints its tables on the CPU at small sizes: the same code that times the GPU."""

import json

import numpy as np
import pytest
import torch

from p2phd import checkpoint, reference
from p2phd.bench import ops as bench_ops
from p2phd.cli import bench
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime


def test_render_table_and_json(tmp_path, capsys):
    out = tmp_path / "render.json"
    argv = ["render", "--arch", "tiny", "--device", "cpu", "--sizes", "32x64", "--batches", "2"]
    argv += ["--precisions", "fp32"]
    argv += ["--runs", "2", "--warmup", "1", "--compile", "none", "--json", str(out)]
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    for case in ("public pipeline, FP32 eager", "p2phd openvino (fp32)", "p2phd fused (fp32)"):
        assert case in table
    record = json.loads(out.read_text())
    # The machine's load (1, 5 and 15 minutes) is recorded with the timings (issue 25).
    assert len(record["load_average"]) == 3 and min(record["load_average"]) >= 0
    rows = {row["case"]: row for row in record["timings"]}
    fused = rows["p2phd fused (fp32)"]
    assert fused["batch"] == 2 and fused["median_ms"] > 0
    # The reference (torch fp32) against itself and the public pipeline is exact; the other
    # FP32 renders differ from it by float rounding at most.
    assert rows["p2phd torch (fp32)"]["psnr_db"] == float("inf")
    assert rows["public pipeline, FP32 eager"]["psnr_db"] == float("inf")
    assert fused["psnr_db"] >= 60 and rows["p2phd openvino (fp32)"]["psnr_db"] >= 60


def test_ops_table(capsys):
    assert bench.main(["ops", "--device", "cpu", "--size", "16x32", "--runs", "2"]) == 0
    assert "generator_input fp16" in capsys.readouterr().out


def testlayer_cases_run_on_cpu():
    # The GPU-only layer comparisons, run once at a small size to catch breakage anywhere.
    labels_np, instances_np = bench_ops.blocky_scene(16, 32)
    labels, instances = torch.from_numpy(labels_np)[None], torch.from_numpy(instances_np)[None]
    dense = torch.empty(1, bench_ops.LABEL_NC + 1, 16, 32, dtype=torch.float16)
    results = {}
    for op, _, fn in bench_ops.layer_cases(labels, instances, dense):
        results.setdefault(op, []).append(fn().float())
    ours, theirs = results["label_conv 36->32 fp16"]
    torch.testing.assert_close(ours, theirs, atol=0.1, rtol=0.01)
    ours, theirs = results["label_conv pooled 36->64 fp16"]
    torch.testing.assert_close(ours, theirs, atol=0.1, rtol=0.01)
    assert len(results) == 4


def test_the_numpy_generator_input_equals_the_reference():
    labels, instances = (np.repeat(m[None], 2, 0) for m in bench_ops.blocky_scene(37, 53))
    expected = reference.generator_input(
        torch.from_numpy(labels), torch.from_numpy(instances), bench_ops.LABEL_NC
    )
    actual = bench_ops.numpy_generator_input(labels, instances)
    assert expected[:, -1].sum() > 0  # the scene has edges
    np.testing.assert_array_equal(actual, expected.numpy())


def psnr_db(image: np.ndarray, reference: np.ndarray) -> float:
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def test_quality_table(tmp_path, capsys):
    config = GeneratorConfig(netG="global", ngf=4, n_downsample_global=1, n_blocks_global=1)
    torch.manual_seed(0)
    model = checkpoint.LoadedModel(config=config, generator=build_generator(config))
    checkpoint.save_bundle(model, tmp_path / "model")
    argv = ["quality", str(tmp_path / "model"), "--size", "32x64", "--seeds", "100-101"]
    argv += ["--l1-seeds", "0-3", "--l1-iterations", "2", "--l1-batch", "2"]
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    assert "untrained" in table and "L1 only, 2 iterations" in table
    names = ("untrained", "L1", str(tmp_path / "model"))
    psnr = {
        line.split()[0]: float(line.split()[-2])
        for line in table.splitlines()
        if line.startswith(names)
    }
    assert np.isfinite(psnr["L1"])
    # The model is the untrained generator (seed 0): both rows are the PSNR of its renders
    # against the scenes' photos, averaged over the two seeds, as computed here.
    runtime = Runtime(tmp_path / "model", device="cpu", precision="fp32")
    scenes = [synthetic_scene(seed, 32, 64) for seed in (100, 101)]
    expected = np.mean([psnr_db(runtime.render(s.labels, s.instances), s.image) for s in scenes])
    assert psnr["untrained"] == pytest.approx(expected, abs=0.005)
    assert psnr[str(tmp_path / "model")] == pytest.approx(expected, abs=0.005)


def test_render_defaults_fit_a_machine_without_cuda(capsys):
    args = bench.build_parser().parse_args(["render"])
    if bench.CUDA_READY:
        assert (args.device, args.arch) == ("cuda", "label2city_1024p")
    else:
        assert (args.device, args.arch, args.compile) == ("cpu", "tiny", "none")
        assert args.sizes == [(256, 512)] and args.batches == [1]
    with pytest.raises(SystemExit):
        bench.main(["render", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "comma-separated HxW list (default: 256x512" in help_text
    assert f"(default: {args.device})" in help_text


def test_render_table_gives_sizes_as_hxw(capsys):
    argv = ["render", "--arch", "tiny", "--device", "cpu", "--sizes", "16x48", "--runs", "1"]
    argv += ["--precisions", "fp32"]
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    assert "HxW" in table.splitlines()[1] and "   16x48" in table
