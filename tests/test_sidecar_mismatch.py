# SPDX-License-Identifier: Apache-2.0
"""A sidecar that disagrees with its artifact (labels, instance use, features, size, batch) is
refused when the artifact loads, with an error that names the disagreement, never a raw
onnxruntime error at the first render (issue 24)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from p2phd import checkpoint
from p2phd.cli import render
from p2phd.export import export
from p2phd.runtime import Runtime
from p2phd.sidecar import sidecar_path
from tests.export_helpers import GLOBAL, tiny

pytest.importorskip("onnxruntime")

KINDS = {
    "onnx": ("onnx", False),
    "onnx-preprocess": ("onnx", True),
    "torchscript": ("torchscript", False),
}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sidecars")
    bundle = folder / "bundle"
    checkpoint.save_bundle(tiny(GLOBAL), bundle)
    made = {}
    for kind, (to, preprocess) in KINDS.items():
        out = folder / f"{kind}{'.pt' if to == 'torchscript' else '.onnx'}"
        export(bundle, to=to, size=(32, 64), with_preprocess=preprocess, out=out, verify=False)
        made[kind] = out
    return made


def _config(key: str, value) -> Callable[[dict], None]:
    def change(sidecar: dict) -> None:
        sidecar["config"][key] = value

    return change


def _height(value: int) -> Callable[[dict], None]:
    def change(sidecar: dict) -> None:
        for entry in (*sidecar["inputs"], *sidecar["outputs"]):
            nchw = entry["name"] in ("input", "output", "features")
            entry["shape"][2 if nchw else 1] = value

    return change


def _batch(value: int) -> Callable[[dict], None]:
    def change(sidecar: dict) -> None:
        for entry in (*sidecar["inputs"], *sidecar["outputs"]):
            entry["shape"][0] = value

    return change


LIES = {
    "labels": _config("label_nc", 20),
    "no instances": _config("use_instance", False),
    "features": _config("instance_feat", True),
    "height": _height(64),
    "batch": _batch(2),
}


@pytest.mark.parametrize("lie", sorted(LIES))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_sidecar_that_disagrees_with_its_artifact_is_refused_on_load(
    artifacts, kind, lie, tmp_path, capsys
) -> None:
    source = artifacts[kind]
    artifact = tmp_path / source.name
    artifact.write_bytes(source.read_bytes())
    sidecar = json.loads(sidecar_path(source).read_text())
    LIES[lie](sidecar)
    sidecar_path(artifact).write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="does not match|do not match"):
        Runtime(artifact)
    labels = tmp_path / "labels.png"
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(labels)
    instances = tmp_path / "instances.png"
    Image.fromarray(np.zeros((32, 64), np.uint16)).save(instances)
    argv = [
        str(artifact),
        str(labels),
        "--instances",
        str(instances),
        "--out",
        str(tmp_path / "x.png"),
    ]
    code = render.main(argv)
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1 and "unexpected" not in err, err
    assert "match" in err, err


def _without_description(source: Path, artifact: Path) -> None:
    """`source` copied to `artifact` with no sidecar and no description inside."""
    import onnx

    model = onnx.load(str(source))
    del model.metadata_props[:]
    onnx.save(model, str(artifact))


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("onnx", {"label_nc": 20}, "takes 36 input channels"),
        ("onnx", {"use_instance": False}, "takes 36 input channels"),
        ("onnx-preprocess", {"use_instance": False}, r"takes the inputs \['labels', 'instances'\]"),
        ("onnx-preprocess", {"instance_feat": True}, r"mean \['labels', 'instances', 'features'\]"),
    ],
)
def test_an_onnx_without_sidecar_must_fit_the_options_given(
    artifacts, kind, options, message, tmp_path
) -> None:
    artifact = tmp_path / "bare.onnx"
    _without_description(artifacts[kind], artifact)
    config = {"ngf": 8, "n_downsample_global": 2, "n_blocks_global": 1, **options}
    with pytest.raises(ValueError, match=message):
        Runtime(artifact, **config)
    runtime = Runtime(artifact, ngf=8, n_downsample_global=2, n_blocks_global=1)
    labels = np.zeros((1, 32, 64), np.int32)
    assert runtime.render(labels, np.zeros_like(labels)).shape == (1, 32, 64, 3)
