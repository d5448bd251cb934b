# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch
from PIL import Image

from p2phd import checkpoint
from p2phd.cli import render
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator

TINY = GeneratorConfig(ngf=4, n_downsample_global=2, n_blocks_global=1)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    checkpoint.save_bundle(
        checkpoint.LoadedModel(config=TINY, generator=build_generator(TINY)), path
    )
    return path


@pytest.fixture
def dataset(tmp_path):
    """Three scenes in the public layout: test_label/ + test_inst/, Cityscapes names."""
    root = tmp_path / "data"
    for seed in range(3):
        scene = synthetic_scene(seed, 40, 72)
        stem = f"city_{seed:06d}_000019_gtFine"
        for folder, array, kind in (
            ("test_label", scene.labels, "labelIds"),
            ("test_inst", scene.instances.astype(np.uint16), "instanceIds"),
        ):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / f"{stem}_{kind}.png")
    return root


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
    assert sorted(p.name for p in out.iterdir()) == [f"city_{s:06d}_000019.png" for s in range(3)]
    error = capsys.readouterr().err
    assert "3 of 4 images rendered" in error and "images/s" in error
    assert f"failed: {bad}" in error


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
