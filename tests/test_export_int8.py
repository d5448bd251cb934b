# SPDX-License-Identifier: Apache-2.0
"""`p2phd-export --to openvino --int8`: NNCF's INT8 IR, calibrated on label maps and verified
by its segmentation score against the f32 IR, not by its pixel error."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from p2phd import checkpoint
from p2phd.artifact_io import io_tensors
from p2phd.cli import export as export_cli
from p2phd.data.synthetic import synthetic_scene
from p2phd.export import export, int8
from p2phd.export.verify import VerificationError
from p2phd.image_io import write_png
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime

pytest.importorskip("nncf")

SIZE = "64x128"


@pytest.mark.parametrize("with_preprocess", [False, True])
def test_the_int8_ir_is_quantized_scored_and_renders(tmp_path, capsys, with_preprocess):
    # With its preprocessing (the faster INT8 IR: the one-hot is not made on the host), the
    # IR takes the maps themselves.
    out = tmp_path / "demo.xml"
    argv = ["demo", "--to", "openvino", "--int8", "--size", SIZE, "--out", str(out), "--quiet"]
    assert export_cli.main(argv + (["--with-preprocess"] if with_preprocess else [])) == 0
    assert ('name="labels"' in out.read_text()) == with_preprocess
    printed = capsys.readouterr().out
    score_lines = [line for line in printed.splitlines() if line.startswith("verify int8")]
    assert len(score_lines) == 1 and score_lines[0].endswith(": ok"), printed
    iou = re.search(r"mean IoU ([\d.]+) vs f32 ([\d.]+)", score_lines[0])
    assert float(iou.group(1)) >= int8.MIN_IOU_RATIO * float(iou.group(2))
    assert "int8 (NNCF, calibrated on 32 synthetic scenes)" in printed
    assert "FakeQuantize" in out.read_text()  # the IR itself holds the INT8 layers
    sidecar = json.loads(out.with_name("demo.xml.json").read_text())
    assert sidecar["quantization"].startswith("int8")
    scene = synthetic_scene(3, 64, 128)
    image = Runtime(out).render(scene.labels, scene.instances)
    reference = Runtime("demo").render(scene.labels, scene.instances)
    assert image.shape == reference.shape == (64, 128, 3)
    difference = np.abs(image.astype(np.int16) - reference)
    assert 0 < difference.mean() < 20  # quantized (not the f32 image), yet the same scene


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--to", "onnx", "--int8"], "--int8 takes --to openvino in fp32"),
        (["--to", "openvino", "--int8", "--precision", "fp16"], "--int8 takes --to openvino"),
        (["--to", "openvino", "--int8", "--calibration", "synthetic:0"], "1 to 10000"),
        (["--to", "openvino", "--int8", "--calibration", "/no/such/dir"], "not 'synthetic[:N]'"),
    ],
)
def test_bad_int8_options_are_one_line_and_exit_2(tmp_path, capsys, options, message):
    out = tmp_path / "m.xml"
    assert export_cli.main(["demo", *options, "--size", SIZE, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_a_calibration_folder_of_maps_is_used(tmp_path, capsys):
    maps = tmp_path / "maps"
    maps.mkdir()
    for seed in range(2):
        scene = synthetic_scene(seed, 64, 128)
        write_png(maps / f"s{seed}_gtFine_labelIds.png", scene.labels)
        write_png(maps / f"s{seed}_gtFine_instanceIds.png", scene.instances.astype(np.uint16))
    out = tmp_path / "m.xml"
    argv = ["demo", "--to", "openvino", "--int8", "--calibration", str(maps), "--no-verify"]
    assert export_cli.main([*argv, "--size", SIZE, "--out", str(out), "--quiet"]) == 0
    assert "calibrated on 2 maps of" in capsys.readouterr().out


def test_a_calibration_folder_without_maps_is_refused(tmp_path):
    with pytest.raises(ValueError, match="holds no label maps"):
        int8.parse_calibration(str(tmp_path))


def test_a_model_the_segmenter_cannot_score_needs_no_verify(tmp_path):
    config = GeneratorConfig(netG="global", ngf=4, n_downsample_global=1, n_blocks_global=1)
    config = GeneratorConfig(**{**config.to_dict(), "label_nc": 7})
    torch.manual_seed(0)
    bundle = tmp_path / "tiny"
    checkpoint.save_bundle(
        checkpoint.LoadedModel(config=config, generator=build_generator(config)), bundle
    )
    options = {"to": "openvino", "int8": True, "size": (32, 64), "progress": None}
    with pytest.raises(ValueError, match="shipped segmenter, whose 35 labels"):
        export(bundle, out=tmp_path / "a.xml", **options)
    assert not (tmp_path / "a.xml").exists()
    export(bundle, out=tmp_path / "b.xml", verify=False, **options)
    assert (tmp_path / "b.xml").exists()


def test_a_render_that_loses_the_scene_fails_the_score(tmp_path):
    """The score check itself: an 'INT8' IR whose generator is zeroed renders one flat image,
    which the segmenter cannot read as the scene: VerificationError."""
    demo = checkpoint.load(checkpoint.resolve_model("demo"))
    options = {"to": "openvino", "size": (64, 128), "verify": False, "progress": None}
    export(demo, out=tmp_path / "f32.xml", **options)
    with torch.no_grad():
        for parameter in demo.generator.parameters():
            parameter.zero_()
    export(demo, out=tmp_path / "flat.xml", **options)
    inputs, _ = io_tensors(demo.config, "fp32", with_preprocess=False)
    with pytest.raises(VerificationError, match="needs >= 97%.*FAILED"):
        int8.check_score(
            tmp_path / "f32.xml",
            tmp_path / "flat.xml",
            demo.config,
            demo.clusters,
            inputs,
            (64, 128),
            1,
        )
