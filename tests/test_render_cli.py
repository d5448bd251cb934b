# SPDX-License-Identifier: Apache-2.0
import json

import numpy as np
import pytest
from PIL import Image

import p2phd
from p2phd.cli import render
from p2phd.map_jobs import MANIFEST_NAME
from p2phd.models import GeneratorConfig
from p2phd.runtime import Runtime
from tests.dataset_helpers import write_test_dataset
from tests.model_helpers import save_random_bundle

TINY = GeneratorConfig(ngf=4, n_downsample_global=2, n_blocks_global=1)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return save_random_bundle(tmp_path_factory.mktemp("model") / "tiny", TINY)


@pytest.fixture
def dataset(tmp_path):
    """Three scenes in the public layout: test_label/ + test_inst/, Cityscapes names."""
    return write_test_dataset(tmp_path / "data", 3, 40, 72)


def test_one_map_finds_its_instance_map(bundle, dataset, tmp_path):
    labels = dataset / "test_label" / "city_000000_000019_gtFine_labelIds.png"
    out = tmp_path / "one.png"
    assert render.main([str(bundle), str(labels), "--out", str(out)]) == 0
    assert np.array(Image.open(out)).shape == (40, 72, 3)


def test_folder_renders_every_pair_and_lists_failures(bundle, dataset, tmp_path, capsys):
    bad = dataset / "test_label" / "city_000009_000019_gtFine_labelIds.png"
    Image.fromarray(np.zeros((40, 72, 3), np.uint8)).save(bad)  # an RGB picture, no instances
    out = tmp_path / "out"
    assert render.main([str(bundle), str(dataset), "--out", str(out)]) == 1
    names = [f"city_{s:06d}_000019.png" for s in range(3)]
    assert sorted(p.name for p in out.iterdir()) == [*names, MANIFEST_NAME]
    error = capsys.readouterr().err
    assert "3 of 4 images rendered" in error and "images/s" in error
    assert f"failed: {bad}" in error
    # The manifest: one line per output written, with what reproduces it.
    records = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert [record["output"] for record in records] == names
    runtime = Runtime(bundle, device="cpu")
    for record in records:
        assert record["model_digest"] == runtime.model_digest
        assert record["model_digest"].startswith("sha256:") and len(record["model_digest"]) == 71
        # The default on a CPU: OpenVINO in f32.
        assert (record["backend"], record["precision"], record["device"]) == (
            "openvino",
            "fp32",
            "cpu",
        )
        assert (record["seed"], record["p2phd"], record["style"]) == (0, p2phd.__version__, None)
        assert record["labels"] == str(
            dataset.resolve() / "test_label" / record["labels"].split("/")[-1]
        )


def test_usage_errors_exit_2(bundle, tmp_path, capsys):
    assert render.main([str(bundle), str(tmp_path / "missing.png"), "--out", "x.png"]) == 2
    assert render.main([str(bundle), str(tmp_path), "--out", "x", "--style", "car"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"p2phd-render: error: {tmp_path / 'missing.png'} does not exist",
        "p2phd-render: error: --style takes ID=K, got 'car'",
    ]


def test_unloadable_model_exits_1(tmp_path, dataset, capsys):
    broken = tmp_path / "latest_net_G.pth"
    broken.write_bytes(b"not a checkpoint")
    assert render.main([str(broken), str(dataset), "--out", str(tmp_path / "o")]) == 1
    assert "cannot load" in capsys.readouterr().err


def test_demo_renders_a_synthetic_scene_with_the_bundled_model(tmp_path):
    out = tmp_path / "demo.png"
    assert render.main(["--demo", str(out), "--size", "64x128", "--device", "cpu"]) == 0
    assert np.array(Image.open(out)).shape == (64, 128, 3)


def test_demo_model_renders_the_real_cityscapes_maps(cityscapes):
    from p2phd.runtime import Runtime

    runtime = Runtime(render.DEMO_MODEL, device="cpu")
    for name, labels, instances in cityscapes:
        image = runtime.render(labels[::8, ::8], instances[::8, ::8], seed=0)
        assert image.shape == (128, 256, 3), name


def test_demo_uses_the_backend_asked_for(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert render.main(["--demo", str(out), "--size", "32x64", "--device", "cpu"]) == 0
    assert "demo model (openvino) on cpu" in capsys.readouterr().out  # the CPU's default
    assert render.main(["--demo", str(out), "--size", "32x64", "--threads", "2"]) == 0
    assert render.main(["--demo", str(out), "--backend", "torch", "--threads", "2"]) == 2
    assert "--threads applies to the openvino backend" in capsys.readouterr().err
    argv = ["--demo", str(out), "--size", "32x64", "--device", "cpu", "--backend", "fused"]
    assert render.main(argv) == 0
    assert "demo model (fused) on cpu" in capsys.readouterr().out
    argv[-1] = "onnxruntime"  # the demo model is a bundle: no ONNX file to run
    assert render.main(argv) == 1
    assert "onnxruntime" in capsys.readouterr().err


def _public_scale_width(path, width):
    """The public test.py's scale_width for a map: PIL NEAREST to WIDTH x int(WIDTH*H/W)."""
    with Image.open(path) as image:
        old_width, height = image.size
        return np.array(image.resize((width, int(width * height / old_width)), Image.NEAREST))


@pytest.mark.parametrize("width", [36, 50, 72, 100])
def test_resize_scales_the_maps_as_the_public_code_does(bundle, dataset, tmp_path, width):
    from p2phd.runtime import Runtime

    stem = "city_000001_000019_gtFine"
    labels_path = dataset / "test_label" / f"{stem}_labelIds.png"
    instances_path = dataset / "test_inst" / f"{stem}_instanceIds.png"
    out = tmp_path / "resized.png"
    argv = [str(bundle), str(labels_path), "--out", str(out), "--resize", str(width)]
    assert render.main(argv + ["--device", "cpu"]) == 0
    labels = _public_scale_width(labels_path, width)
    instances = _public_scale_width(instances_path, width)
    assert labels.shape == (int(width * 40 / 72), width)
    expected = Runtime(bundle, device="cpu").render(labels, instances)
    np.testing.assert_array_equal(np.array(Image.open(out)), expected)


def test_scale_width_of_a_cityscapes_map_matches_pil(cityscapes):
    from tests.conftest import CITYSCAPES

    name, labels, instances = cityscapes[0]
    for array, folder, kind in (
        (labels, "test_label", "labelIds"),
        (instances, "test_inst", "instanceIds"),
    ):
        expected = _public_scale_width(CITYSCAPES / folder / f"{name}_{kind}.png", 1024)
        scaled = render.scale_width(array, 1024)
        assert scaled.shape == (512, 1024) and scaled.dtype == array.dtype
        np.testing.assert_array_equal(scaled, expected)


def test_folder_progress_in_a_pipe_is_plain_lines(bundle, dataset, tmp_path, capsys):
    assert render.main([str(bundle), str(dataset), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("[")]
    assert [line.split()[0] for line in lines] == ["[1/3]", "[2/3]", "[3/3]"]
    assert all(" s, ETA " in line for line in lines)
    assert "3 of 3 images rendered in" in err and "s each" in err
