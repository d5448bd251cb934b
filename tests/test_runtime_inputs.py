# SPDX-License-Identifier: Apache-2.0
"""Runtime on awkward inputs (issue 19 items 6-10) and its user-facing options (issue 14):
small maps, 16-bit and big-endian maps, NaN, memory, model names, seeds, rounding, profiles."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2phd import checkpoint, reference
from p2phd.data.synthetic import synthetic_scene
from p2phd.image_io import read_instance_map, read_label_map
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import MAX_SIDE, RenderMemoryError, RenderProfile, Runtime
from p2phd.runtime.memory import available_bytes
from p2phd.runtime.onednn import onednn_available, route_convolutions_to_onednn

TINY = GeneratorConfig(
    netG="local", ngf=8, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1
)
FEATURE = GeneratorConfig(
    ngf=4, n_downsample_global=1, n_blocks_global=1, instance_feat=True, feat_num=3
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bundle") / "tiny"
    checkpoint.save_bundle(checkpoint.LoadedModel(TINY, build_generator(TINY)), path)
    return path


@pytest.fixture(scope="module")
def generator() -> torch.nn.Module:
    """The bundle's generator (the same seed and config), its convolutions in oneDNN as the
    torch backend runs them: a 1 x 1 map pads to a constant 16 x 16 one, whose instance norms
    magnify the rounding differences of other convolution code."""
    torch.manual_seed(0)
    generator = build_generator(TINY).eval()
    if onednn_available():
        route_convolutions_to_onednn(generator)
    return generator


@pytest.fixture(scope="module")
def runtime(bundle) -> Runtime:
    return Runtime(bundle, device="cpu")


@pytest.fixture(scope="module")
def demo() -> Runtime:
    return Runtime("demo", device="cpu")


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(3, 48, 64)


def _feature_bundle(folder: Path, clusters: dict[int, np.ndarray]) -> Path:
    torch.manual_seed(1)
    model = checkpoint.LoadedModel(FEATURE, build_generator(FEATURE), clusters=clusters)
    return checkpoint.save_bundle(model, folder / "features.safetensors")


# --- item 6: any H, W in [1, MAX_SIDE] renders --------------------------------------------------


_TORCH_RUNTIMES: dict[str, Runtime] = {}


def _torch_runtime(bundle) -> Runtime:
    if str(bundle) not in _TORCH_RUNTIMES:
        _TORCH_RUNTIMES[str(bundle)] = Runtime(bundle, device="cpu", backend="torch")
    return _TORCH_RUNTIMES[str(bundle)]


@pytest.mark.parametrize("size", [(1, 1), (4, 4), (8, 8), (1, 57), (47, 1), (3, 60), (17, 5)])
def test_small_and_thin_maps_render(bundle, generator, scene, size):
    # The torch backend, whose arithmetic the by-hand reference repeats: a 1 x 1 map pads to
    # a constant map whose instance norm magnifies any other backend's rounding.
    runtime = _torch_runtime(bundle)
    height, width = size
    labels, instances = scene.labels[:height, :width], scene.instances[:height, :width]
    image = runtime.render(labels, instances)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    expected = _padded_by_hand_render(generator, labels, instances)
    y = runtime.render(labels, instances, output="float")
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-4)
    # A float within 1e-4 of a rounding boundary may land one level apart, no more.
    assert (
        np.abs(image.astype(int) - reference.to_uint8_image(expected[None])[0].numpy()).max() <= 1
    )


def _reflect(size: int, padded: int) -> list[int]:
    """Source index of each position of an axis reflected at its far end (a, b, c, b, a, b...)."""
    if size == 1:
        return [0] * padded
    indices, step, at = [0], 1, 0
    while len(indices) < padded:
        if not 0 <= at + step < size:
            step = -step
        at += step
        indices.append(at)
    return indices


def _padded_by_hand_render(
    generator: torch.nn.Module, labels: np.ndarray, instances: np.ndarray
) -> torch.Tensor:
    """What render must give for a map of any size: the map reflected at the bottom and right
    to 16 x 16 or the next multiple of 8 (TINY's stride), through the pure-torch reference
    input and the generator, cropped back to the map's size."""
    height, width = labels.shape
    rows = _reflect(height, max(-(-height // 8) * 8, 16))
    cols = _reflect(width, max(-(-width // 8) * 8, 16))
    pad = np.ix_(rows, cols)
    x = reference.generator_input(
        torch.from_numpy(labels[pad])[None], torch.from_numpy(instances[pad])[None], 35
    )
    with torch.no_grad():
        return generator(x)[0, :, :height, :width]


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (2, 33)])
def test_small_maps_render_with_the_demo_model(demo, size):
    runtime = demo
    scene = synthetic_scene(0, 16, 40)
    labels, instances = scene.labels[: size[0], : size[1]], scene.instances[: size[0], : size[1]]
    assert runtime.render(labels, instances).shape == (*size, 3)
    photo = np.full((*size, 3), 128, np.uint8)
    assert runtime.render(labels, instances, features_from=photo).shape == (*size, 3)


# --- item 7: what the readers accept, render takes ---------------------------------------------


def test_16_bit_labels_and_big_endian_instances_render(runtime, scene, tmp_path):
    label_path, instance_path = tmp_path / "labels.png", tmp_path / "instances.tif"
    Image.fromarray(scene.labels.astype(np.uint16)).save(label_path)
    big_endian = scene.instances.astype(">u2")
    Image.frombytes("I;16B", big_endian.shape[::-1], big_endian.tobytes()).save(instance_path)
    labels, instances = read_label_map(label_path), read_instance_map(instance_path)
    assert Image.open(label_path).mode == "I;16" and Image.open(instance_path).mode == "I;16B"
    expected = runtime.render(scene.labels, scene.instances)
    assert np.array_equal(runtime.render(labels, instances), expected)
    # And straight from numpy, without the readers: byte-swapped arrays mean the same ids.
    swapped = runtime.render(scene.labels.astype(">i4"), scene.instances.astype(">u2"))
    assert np.array_equal(swapped, expected)


# --- items 8 and 10: NaN and arguments of the wrong kind ---------------------------------------


def test_nan_and_wrong_arguments_are_named(tmp_path, scene):
    cars = [i for i in np.unique(scene.instances).tolist() if i // 1000 == 26]
    path = _feature_bundle(tmp_path, {26: np.ones((2, 3), np.float32)})
    runtime = Runtime(path, device="cpu")
    photo = np.zeros((3, 48, 64), np.float32)
    photo[1, 5, 7] = np.nan
    runtime.encoder = torch.nn.Identity()  # any encoder: the photo is refused before it runs
    with pytest.raises(ValueError, match="features_from contains NaN"):
        runtime.render(scene.labels, scene.instances, features_from=photo)
    with pytest.raises(ValueError, match=r"features_from must be an RGB photo .*\(48, 64\)"):
        runtime.render(scene.labels, scene.instances, features_from=scene.image[..., 0])
    with pytest.raises(ValueError, match="cluster index 1.5"):
        runtime.render(scene.labels, scene.instances, style={cars[0]: 1.5})
    with pytest.raises(ValueError, match="instance id '7'"):
        runtime.render(scene.labels, scene.instances, style={"7": 0})
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        runtime.render(scene.labels, scene.instances, seed=-1)


def test_nan_cluster_centres_are_refused_naming_the_file(tmp_path):
    path = _feature_bundle(tmp_path, {26: np.full((2, 3), np.nan, np.float32)})
    with pytest.raises(checkpoint.CheckpointError, match=f"{path}.*NaN"):
        Runtime(path, device="cpu")


# --- item 9: memory ----------------------------------------------------------------------------


def test_a_render_that_cannot_fit_is_refused_before_it_starts(bundle):
    labels = np.zeros((MAX_SIDE, MAX_SIDE), np.uint8)
    instances = np.zeros((MAX_SIDE, MAX_SIDE), np.int32)
    limited = Runtime(bundle, device="cpu", memory_limit=2**30)
    began = time.perf_counter()
    with pytest.raises(RenderMemoryError, match=r"8192 x 8192 maps .* needs about .* GiB"):
        limited.render(labels, instances)
    assert time.perf_counter() - began < 5
    assert isinstance(RenderMemoryError("x"), RuntimeError)  # CLIs report it in one line
    runtime = Runtime(bundle, device="cpu")
    needed = runtime.required_memory(1, MAX_SIDE, MAX_SIDE)
    available = available_bytes(torch.device("cpu"))
    if available is None or needed <= available:
        pytest.skip(f"this machine has {available} bytes: an 8192 x 8192 render would fit")
    with pytest.raises(RenderMemoryError, match="than what cpu has available"):
        runtime.render(labels, instances)


def test_memory_estimate_bounds_a_real_render(bundle, scene):
    # The estimate must not be below what a render allocates; measured as the growth of the
    # process's peak RSS in a fresh process would be slow, so check the order of magnitude.
    runtime = Runtime(bundle, device="cpu")
    n, height, width = 2, 512, 1024
    estimate = runtime.required_memory(n, height, width)
    activations = n * height * width * 4 * (TINY.input_nc + TINY.ngf)
    assert activations < estimate < 20 * activations


# --- issue 14: names, seeds, rounding, profiles ------------------------------------------------


def test_demo_name_and_default_seed(demo):
    scene = synthetic_scene(2, 32, 48)
    runtime = demo
    assert runtime.source == checkpoint.MODEL_NAMES["demo"]
    first = runtime.render(scene.labels, scene.instances)
    assert np.array_equal(first, runtime.render(scene.labels, scene.instances))
    assert np.array_equal(first, runtime.render(scene.labels, scene.instances, seed=0))
    assert not np.array_equal(first, runtime.render(scene.labels, scene.instances, seed=1))


def test_missing_model_lists_what_a_model_may_be(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model; a MODEL is .*ONNX.*demo"):
        Runtime(tmp_path / "missing")


def test_public_rounding_truncates_the_float_image(bundle, scene):
    runtime = Runtime(bundle, device="cpu", rounding="public")
    assert runtime.rounding == "public"
    y = runtime.render(scene.labels, scene.instances, output="float")
    expected = np.clip((np.transpose(y, (1, 2, 0)) + 1) / 2.0 * 255.0, 0, 255).astype(np.uint8)
    assert np.array_equal(runtime.render(scene.labels, scene.instances), expected)
    with pytest.raises(ValueError, match="rounding='public' needs a backend"):
        Runtime(bundle, device="cpu", backend="fused", rounding="public")
    with pytest.raises(ValueError, match="rounding must be"):
        Runtime(bundle, rounding="up")


@pytest.mark.parametrize(
    "backend, precision",
    [("torch", "fp32"), ("torch", "bf16"), ("fused", "fp32"), ("openvino", "fp32")],
)
def test_profile_times_each_stage(bundle, scene, backend, precision):
    runtime = Runtime(bundle, device="cpu", backend=backend, precision=precision)
    profile = RenderProfile()
    runtime.render(scene.labels, scene.instances, profile=profile)
    # A batch is one entry per stage too, though on a CPU each map runs on its own.
    batch = (np.stack([scene.labels] * 3), np.stack([scene.instances] * 3))
    runtime.render(*batch, profile=profile)
    assert {stage: len(times) for stage, times in profile.stages_ms.items()} == {
        "preprocess": 2,
        "generator": 2,
        "postprocess": 2,
    }
    assert all(profile.median_ms(stage) >= 0 for stage in profile.stages_ms)
    assert len(profile.renders_ms) == 2  # the whole of each render, what no stage times included


def test_png_files_follow_the_umask(tmp_path):
    from p2phd.image_io import write_png

    old = os.umask(0o022)
    try:
        write_png(tmp_path / "a" / "image.png", np.zeros((4, 5, 3), np.uint8))
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "image.png").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["image.png"]


def test_render_cli_takes_demo_and_public_rounding(tmp_path, demo):
    from p2phd.cli import render

    scene = synthetic_scene(4, 32, 48)
    Image.fromarray(scene.labels).save(tmp_path / "a_labelIds.png")
    Image.fromarray(scene.instances.astype(np.uint16)).save(tmp_path / "a_instanceIds.png")
    out = tmp_path / "out.png"
    old = os.umask(0o022)
    try:
        argv = ["demo", str(tmp_path / "a_labelIds.png"), "--out", str(out)]
        assert render.main([*argv, "--device", "cpu", "--rounding", "public"]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644
    # Every map of the CLI takes --seed (0 when not given), as Runtime.render's seed.
    y = demo.render(scene.labels, scene.instances, output="float", seed=0)
    expected = np.clip((np.transpose(y, (1, 2, 0)) + 1) / 2.0 * 255.0, 0, 255).astype(np.uint8)
    assert np.array_equal(np.array(Image.open(out)), expected)
