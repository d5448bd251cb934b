# SPDX-License-Identifier: Apache-2.0
"""Every artifact of the demo model renders through Runtime and p2phd-render like the bundle:
same style=/seed= semantics, same image within the verification rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from p2phd import export as ex
from p2phd import ops
from p2phd.checkpoint import load
from p2phd.cli import render as render_cli
from p2phd.cli.render import DEMO_MODEL
from p2phd.data.synthetic import synthetic_scene
from p2phd.export import verify
from p2phd.runtime import Runtime
from p2phd.runtime.features import cluster_features

pytest.importorskip("onnxruntime")

SIZE = (64, 128)
KINDS = {
    "onnx": {"to": "onnx"},
    "onnx-preprocess": {"to": "onnx", "with_preprocess": True},
    "torchscript": {"to": "torchscript"},
    "torchscript-preprocess": {"to": "torchscript", "with_preprocess": True},
    "onnx-fp16": {"to": "onnx", "precision": "fp16"},
}


@pytest.fixture(scope="module")
def demo():
    return load(DEMO_MODEL)


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(4, *SIZE)


@pytest.fixture(scope="module")
def bundle_render(demo, scene):
    """Truth and the bundle's own render (torch FP32) of the scene with seed=0."""
    runtime = Runtime(DEMO_MODEL, device="cpu")
    instances = torch.from_numpy(scene.instances.astype(np.int32))[None]
    features = cluster_features(instances, demo.clusters, demo.config.feat_num, seed=0)
    x = ops.generator_input(
        torch.from_numpy(scene.labels.astype(np.int32))[None], instances, 35, features=features
    )
    with torch.inference_mode():
        truth = verify.float64_generator(demo.generator)(x.double())
    floats = runtime.render(scene.labels, scene.instances, seed=0, output="float")
    images = runtime.render(scene.labels, scene.instances, seed=0)
    return verify.References(
        truth,
        verify.exact_uint8(truth),
        torch.from_numpy(floats[None]).double(),
        torch.from_numpy(images[None]),
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_artifact_renders_like_the_bundle(kind, demo, scene, bundle_render, tmp_path, capsys):
    options = KINDS[kind]
    suffix = ".pt" if options["to"] == "torchscript" else ".onnx"
    result = ex.export(demo, size=SIZE, out=tmp_path / f"demo{suffix}", verify=False, **options)
    runtime = Runtime(result.path)
    assert runtime.config == demo.config and runtime.clusters.keys() == demo.clusters.keys()
    uint8_only = options.get("with_preprocess", False)
    if uint8_only:
        got = runtime.render(scene.labels, scene.instances, seed=0)[None]
    else:
        got = runtime.render(scene.labels, scene.instances, seed=0, output="float")[None]
    # The bundle's own render is the yardstick: the artifact may be off by what the rule allows
    # an artifact of the bundle's precision (FP32; FP16 artifacts get the FP16 floors).
    precision = options.get("precision", "fp32")
    check = verify.compare(
        options["to"], runtime.backend, got, bundle_render, precision, uint8_only
    )
    assert check.passed, check.describe()

    # p2phd-render ARTIFACT gives the same image as Runtime(ARTIFACT).
    Image.fromarray(scene.labels).save(tmp_path / "labels.png")
    Image.fromarray(scene.instances.astype(np.uint16)).save(tmp_path / "instances.png")
    out = tmp_path / "out.png"
    argv = [str(result.path), str(tmp_path / "labels.png"), "--out", str(out), "--seed", "0"]
    assert render_cli.main([*argv, "--instances", str(tmp_path / "instances.png")]) == 0, (
        capsys.readouterr().err
    )
    # Every map of the CLI takes --seed, as Runtime.render's seed.
    expected = runtime.render(scene.labels, scene.instances, seed=0)
    np.testing.assert_array_equal(np.array(Image.open(out)), expected)


def test_style_and_seed_mean_what_they_mean_for_the_bundle(demo, scene, tmp_path):
    result = ex.export(demo, size=SIZE, out=tmp_path / "d.onnx", with_preprocess=True, verify=False)
    artifact, bundle = Runtime(result.path), Runtime(DEMO_MODEL, device="cpu")
    cars = [i for i in np.unique(scene.instances) if i // 1000 == 26]
    assert cars
    for kwargs in ({"seed": 3}, {"style": {int(cars[0]): 7}, "seed": 1}):
        got = artifact.render(scene.labels, scene.instances, **kwargs).astype(int)
        expected = bundle.render(scene.labels, scene.instances, **kwargs).astype(int)
        assert np.mean(np.abs(got - expected) > 1) <= 1e-3
    with pytest.raises(ValueError, match="cluster 10 is outside"):
        artifact.render(scene.labels, scene.instances, style={int(cars[0]): 10})


def test_torchscript_backend_is_named_and_checked(demo, tmp_path):
    result = ex.export(demo, to="torchscript", size=SIZE, out=tmp_path / "d.pt", verify=False)
    runtime = Runtime(result.path, backend="torchscript")
    assert runtime.backend == "torchscript" and runtime.precision == "fp32"
    with pytest.raises(ValueError, match="runs on the torchscript backend"):
        Runtime(result.path, backend="onnxruntime")
