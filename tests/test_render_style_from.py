# SPDX-License-Identifier: Apache-2.0
"""p2phd-render --style-from PHOTO: the public test.py's --use_encoded_image."""

import numpy as np
import pytest
import torch
from PIL import Image

from p2phd import checkpoint
from p2phd.cli import render
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime

HEIGHT, WIDTH = 64, 128


@pytest.fixture
def scene(tmp_path):
    """A synthetic scene's label and instance maps and a random photo of its size, as PNGs."""
    scene = synthetic_scene(3, HEIGHT, WIDTH)
    labels, instances, photo = tmp_path / "a.png", tmp_path / "a_inst.png", tmp_path / "p.png"
    Image.fromarray(scene.labels.astype(np.uint8)).save(labels)
    Image.fromarray(scene.instances.astype(np.uint16)).save(instances)
    rgb = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(photo)
    return labels, instances, photo


def _argv(model, scene, out, *extra):
    labels, instances, photo = scene
    return [str(model), str(labels), "--instances", str(instances), "--out", str(out),
            "--device", "cpu", "--style-from", str(photo), *extra]  # fmt: skip


def test_style_from_renders_as_runtime_features_from(scene, tmp_path):
    out = tmp_path / "out.png"
    assert render.main(_argv("demo", scene, out)) == 0
    labels, instances, photo = (np.array(Image.open(path)) for path in scene)
    runtime = Runtime(render.DEMO_MODEL, device="cpu")
    expected = runtime.render(labels, instances, features_from=photo)
    assert np.array_equal(np.array(Image.open(out)), expected)
    # The photo's styles are not the clusters' that a render without it draws.
    assert not np.array_equal(expected, runtime.render(labels, instances))


def _error(capsys):
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_unusable_photo_exits_2_before_rendering(scene, tmp_path, capsys):
    out = tmp_path / "out.png"
    labels, instances, _ = scene
    missing = tmp_path / "missing.png"
    assert render.main(_argv("demo", (labels, instances, missing), out)) == 2
    assert _error(capsys) == f"p2phd-render: error: --style-from: {missing} does not exist"
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image")
    assert render.main(_argv("demo", (labels, instances, garbage), out)) == 2
    assert _error(capsys).startswith(f"p2phd-render: error: --style-from: {garbage}: cannot read")
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((HEIGHT, WIDTH // 2, 3), np.uint8)).save(small)
    assert render.main(_argv("demo", (labels, instances, small), out)) == 2
    assert _error(capsys) == (
        f"p2phd-render: error: --style-from: {small} is 64x64, the map {labels} is 64x128"
    )
    assert not out.exists()


def test_style_from_takes_one_map(scene, tmp_path, capsys):
    argv = _argv("demo", scene, tmp_path / "out")
    argv[1] = str(tmp_path)
    assert render.main(argv) == 2
    assert _error(capsys) == ("p2phd-render: error: --style-from takes one label map, not a folder")
    assert render.main([*_argv("demo", scene, tmp_path / "o.png"), "--style", "1=2"]) == 2
    assert _error(capsys) == (
        "p2phd-render: error: --style-from gives every instance its style: drop --style"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (GeneratorConfig(ngf=4, n_downsample_global=2, n_blocks_global=1), "no instance features"),
        (
            GeneratorConfig(ngf=4, n_downsample_global=2, n_blocks_global=1, instance_feat=True),
            "no encoder",
        ),
    ],
)
def test_a_model_without_an_encoder_exits_2(scene, tmp_path, capsys, config, message):
    torch.manual_seed(0)
    model = tmp_path / "model"
    checkpoint.save_bundle(
        checkpoint.LoadedModel(config=config, generator=build_generator(config)), model
    )
    out = tmp_path / "out.png"
    assert render.main(_argv(model, scene, out)) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith(f"p2phd-render: error: --style-from: {model} has ") and message in error
    assert not out.exists()
