# SPDX-License-Identifier: Apache-2.0
"""`p2phd-bench quality` end to end at a tiny size: the rows, the table and the JSON."""

import json

import pytest
import torch

from p2phd.bench import quality as quality_bench
from p2phd.cli import bench
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig
from p2phd.models.segmenter import Segmenter, SegmenterConfig
from p2phd.quality import judge
from p2phd.runtime import Runtime
from p2phd.runtime.devices import BF16_FLAGS, cpu_flags
from tests.model_helpers import save_random_bundle

# Instance features without clusters: the untrained and L1 rows of the demo model get zeros.
TINY = GeneratorConfig(
    netG="global", ngf=4, n_downsample_global=1, n_blocks_global=1, instance_feat=True
)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(save_random_bundle(tmp_path_factory.mktemp("model") / "model", TINY, seed=1))


def test_rows_table_and_json_with_the_shipped_segmenter(model, tmp_path, capsys):
    out = tmp_path / "quality.json"
    argv = ["quality", model, model, "--size", "32x64", "--seeds", "100-101", "--json", str(out)]
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    assert "2 held-out scenes (seeds 100-101), 32x64, segmenter shipped" in table
    rows = json.loads(out.read_text())["timings"]
    assert [row["model"] for row in rows] == [
        "oracle (synthetic photos)",
        model,
        model,
        "untrained",
    ]
    oracle, first, second, _ = rows
    assert oracle["psnr_db"] is None and oracle["ssim"] is None
    # Same seeds, same scenes for every row: one model scored twice scores the same.
    assert first == second
    for row in rows:
        assert 0 <= row["pixel_accuracy"] <= 1 and 0 <= row["mean_iou"] <= 1
        assert row["scenes"] == 2
    scene_classes = {
        str(c) for s in (100, 101) for c in set(synthetic_scene(s, 32, 64).labels.flat)
    }
    assert set(oracle["iou"]) == scene_classes


def test_the_l1_row_comes_from_a_saved_generator(model, tmp_path, capsys):
    l1 = tmp_path / "l1"
    argv = ["quality", model, "--size", "32x64", "--seeds", "100-100"]
    argv += ["--l1-seeds", "0-3", "--l1-iterations", "2", "--l1-batch", "2", "--l1-save", str(l1)]
    assert bench.main(argv) == 0
    trained_table = capsys.readouterr().out
    assert (
        bench.main(
            ["quality", model, "--size", "32x64", "--seeds", "100-100", "--l1-model", str(l1)]
        )
        == 0
    )
    loaded_table = capsys.readouterr().out
    trained = [line for line in trained_table.splitlines() if line.startswith("L1 only, 2")]
    loaded = [line for line in loaded_table.splitlines() if line.startswith(f"L1 only ({l1})")]
    assert len(trained) == len(loaded) == 1
    assert trained[0].split()[-4:] == loaded[0].split()[-4:]


def test_l1_training_reports_progress_and_where_it_kept_the_generator(model, tmp_path, capsys):
    l1 = tmp_path / "l1"
    argv = ["quality", model, "--size", "32x64", "--seeds", "100-100"]
    argv += ["--l1-seeds", "0-3", "--l1-iterations", "3", "--l1-batch", "2", "--l1-save", str(l1)]
    assert bench.main(argv) == 0
    log = capsys.readouterr().err.splitlines()
    steps = [line for line in log if line.startswith("L1 baseline: iteration")]
    assert [line.split()[3] for line in steps] == ["1/3", "2/3", "3/3"]
    assert all("loss" in line and "ETA" in line for line in steps)
    assert f"L1 baseline kept in {l1}" in log


def test_l1_model_and_l1_iterations_are_exclusive(model, tmp_path, capsys):
    argv = ["quality", model, "--l1-model", model, "--l1-iterations", "2"]
    assert bench.main(argv) == 2
    assert "not both" in capsys.readouterr().err


def test_a_segmenter_that_copies_the_truth_scores_100_percent():
    # The oracle row of a perfect segmenter on its own photos: scored against the same maps.
    scenes = quality_bench.held_out_scenes(range(100, 102), 32, 64)

    class Truth(Segmenter):
        def predict(self, images):
            index = [i for i, s in enumerate(scenes) if (s.image == images[0].numpy()).all()]
            return torch.from_numpy(scenes[index[0]].labels)[None].long()

    row = quality_bench.oracle_row(Truth(SegmenterConfig()), scenes)
    assert row.pixel_accuracy == 1.0 and row.mean_iou == 1.0
    assert set(row.iou.values()) == {1.0}


def test_a_segmenter_folder_can_be_given(model, tmp_path, capsys):
    torch.manual_seed(0)
    segmenter = Segmenter(SegmenterConfig(widths=(4, 4, 8, 8), input_size=(32, 64)))
    judge.save_segmenter(segmenter.eval(), tmp_path / "seg")
    argv = ["quality", model, "--size", "32x64", "--seeds", "100-100"]
    assert bench.main(argv + ["--segmenter", str(tmp_path / "seg")]) == 0
    assert f"segmenter {tmp_path / 'seg'}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--segmenter", "/nonexistent"], "no segmenter at /nonexistent"),
        (["--seeds", "5-3"], "with A <= B, got '5-3'"),
    ],
)
def test_bad_input_is_one_line_on_stderr(model, options, error, capsys):
    try:  # argparse's own errors exit; the bench's return the code
        code = bench.main(["quality", model, "--size", "32x64", *options])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    message = capsys.readouterr().err
    assert error in message and message.count("\n") == 1


def test_the_l1_baseline_can_train_in_bf16(model, tmp_path, capsys):
    """bf16 autocast: on CPUs with bf16 matrix units the L1 training is 2.5x faster."""
    argv = ["quality", model, "--size", "32x64", "--seeds", "100-100", "--l1-seeds", "0-3"]
    argv += ["--l1-iterations", "2", "--l1-batch", "2", "--l1-precision", "bf16"]
    assert bench.main(argv) == 0
    assert "L1 only, 2 iterations, bf16" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:
        bench.main([*argv[:-1], "fp16"])
    assert usage.value.code == 2


@pytest.mark.skipif(not BF16_FLAGS & cpu_flags(), reason="this CPU has no bf16 units")
def test_each_given_model_is_scored_in_each_precision(model):
    """The bf16 row is the score of the Runtime's bf16 renders, beside the fp32 row; the
    baselines stay fp32 only."""
    seeds = range(100, 102)
    rows = quality_bench.run(
        [model], torch.device("cpu"), seeds, 32, 64, precisions=["fp32", "bf16"]
    )
    names = [row.model for row in rows]
    assert names == ["oracle (synthetic photos)", model, f"{model} (bf16)", "untrained"]
    scenes = quality_bench.held_out_scenes(seeds, 32, 64)
    segmenter = judge.load_segmenter()
    bf16 = Runtime(model, device="cpu", precision="bf16")
    expected = quality_bench.render_row(bf16, "bf16", segmenter, scenes)
    assert (rows[2].pixel_accuracy, rows[2].mean_iou) == (
        expected.pixel_accuracy,
        expected.mean_iou,
    )


def test_precisions_other_than_fp32_and_bf16_are_refused(model):
    with pytest.raises(ValueError, match="precisions must be fp32 and/or bf16"):
        quality_bench.run(
            [model], torch.device("cpu"), range(100, 101), 32, 64, precisions=["int4"]
        )


def test_the_bundled_demo_is_a_model(capsys):
    assert bench.main(["quality", "demo", "--size", "32x64", "--seeds", "100-100"]) == 0
    assert any(line.startswith("demo ") for line in capsys.readouterr().out.splitlines())
