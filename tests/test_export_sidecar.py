# SPDX-License-Identifier: Apache-2.0
"""The sidecar: one reader for export and Runtime, clear errors, and enough for a stranger
to run the end-to-end ONNX with onnxruntime, numpy and Pillow alone."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from p2phd import export as ex
from p2phd.checkpoint import load
from p2phd.cli import render as render_cli
from p2phd.cli.render import DEMO_MODEL
from p2phd.ops import instance_class
from p2phd.runtime import Runtime
from p2phd.sidecar import clusters_from_sidecar, read_sidecar
from tests.export_helpers import FEATURES, SIZE, tiny, tiny_clusters

pytest.importorskip("onnxruntime")

# Everything the client may use: the ONNX, its sidecar, onnxruntime, numpy and Pillow.
STRANGER = r"""
import json, sys
import numpy as np, onnxruntime
from PIL import Image

model, labels_png, instances_png, style_json, out_png = sys.argv[1:]
sidecar = json.load(open(model + ".json"))
meaning = sidecar["semantics"]
labels = np.array(Image.open(labels_png)).astype(np.int32)
instances = np.array(Image.open(instances_png)).astype(np.int32)
low, high = meaning["label_range"]
assert low <= labels.min() and labels.max() < high, "labels outside the model's range"
height, width = labels.shape
stride = meaning["stride"]
pad = [(0, -height % stride), (0, -width % stride)]

# Features: per instance, the chosen row of its class's cluster centres, zeros without any.
clusters = {int(k): np.array(v, np.float32) for k, v in sidecar["clusters"].items()}
style = {int(k): v for k, v in json.load(open(style_json)).items()}
features = np.zeros((sidecar["config"]["feat_num"], height, width), np.float32)
for instance in np.unique(instances):
    cls = instance if instance < 1000 else instance // 1000
    if cls in clusters:
        features[:, instances == instance] = clusters[cls][style[int(instance)]][:, None]

maps = {
    "labels": np.pad(labels, pad, mode="reflect")[None],
    "instances": np.pad(instances, pad, mode="reflect")[None],
    "features": np.pad(features, [(0, 0), *pad], mode="reflect")[None],
}
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
feeds = {entry["name"]: maps[entry["name"]] for entry in sidecar["inputs"]}
image = session.run(None, feeds)[0][0, :height, :width]
Image.fromarray(image).save(out_png)
assert not any(name.startswith("p2phd") for name in sys.modules)
"""


def test_a_stranger_renders_cityscapes_from_the_onnx_alone(cityscapes, tmp_path):
    _, labels, instances = cityscapes[0]
    # Every 8th pixel (128 x 256), cut to a size off the stride so that padding matters.
    labels, instances = labels[::8, ::8][:123, :250], instances[::8, ::8][:123, :250]
    model = tmp_path / "demo.onnx"
    ex.export(DEMO_MODEL, to="onnx", with_preprocess=True, dynamic=True, size=(128, 256), out=model)
    sidecar = read_sidecar(model)
    clusters = clusters_from_sidecar(sidecar)
    assert clusters and sidecar["semantics"]["stride"] == 8
    style = {
        int(i): int(i) % len(clusters[instance_class(int(i))])
        for i in np.unique(instances)
        if instance_class(int(i)) in clusters
    }
    assert len(style) >= 3  # cars, people ... of the real map
    Image.fromarray(labels).save(tmp_path / "labels.png")
    Image.fromarray(instances).save(tmp_path / "instances.png")
    (tmp_path / "style.json").write_text(json.dumps(style))
    (tmp_path / "stranger.py").write_text(STRANGER)
    files = ["labels.png", "instances.png", "style.json", "out.png"]
    subprocess.run(
        [sys.executable, "-I", str(tmp_path / "stranger.py"), str(model)]
        + [str(tmp_path / name) for name in files],
        check=True,
        cwd=tmp_path,
    )
    got = np.array(Image.open(tmp_path / "out.png"))
    # The stranger ran onnxruntime: the same backend gives the same bytes.
    runtime = Runtime(model, backend="onnxruntime")
    expected = runtime.render(labels, instances.astype(np.int32), style=style)
    np.testing.assert_array_equal(got, expected)


def test_sidecar_says_everything_in_words_and_numbers(tmp_path):
    model = tiny(FEATURES, clusters=tiny_clusters(FEATURES))
    result = ex.export(
        model, size=SIZE, with_preprocess=True, out=tmp_path / "f.onnx", verify=False
    )
    meaning = result.sidecar["semantics"]
    assert meaning["label_range"] == [0, 35] and meaning["stride"] == 4
    assert meaning["channel_order"][0].startswith("0..34: one-hot")
    for key in ("edge_rule", "instance_class_rule", "padding_rule", "output", "features"):
        assert isinstance(meaning[key], str) and meaning[key]
    assert "i // 1000" in meaning["instance_class_rule"]
    assert "round(clamp((y + 1) / 2, 0, 1) * 255)" in meaning["output"]
    clusters = clusters_from_sidecar(result.sidecar, FEATURES.feat_num)
    assert sorted(clusters) == sorted(model.clusters)
    for label, centres in model.clusters.items():
        np.testing.assert_array_equal(clusters[label], centres)  # bit-exact through JSON
    assert read_sidecar(result.path) == result.sidecar


def test_clusters_travel_inside_onnx_and_torchscript(tmp_path):
    model = tiny(FEATURES, clusters=tiny_clusters(FEATURES))
    for name in ("f.onnx", "f.pt"):
        to = "onnx" if name.endswith("onnx") else "torchscript"
        result = ex.export(model, to=to, size=SIZE, out=tmp_path / name, verify=False)
        result.sidecar_path.unlink()  # the artifact alone
        embedded = read_sidecar(result.path)
        assert clusters_from_sidecar(embedded).keys() == model.clusters.keys()
        assert embedded["config"] == FEATURES.to_dict()


@pytest.mark.parametrize(
    "content, message",
    [
        ("{}", "missing 'format', 'config', 'inputs', 'outputs'"),
        ('{"format": "onnx", "inputs": [], "outputs": []}', "missing 'config'"),
        ("[1, 2]", "a sidecar is a JSON object"),
        ("not json", "not a readable JSON sidecar"),
    ],
)
def test_a_bad_sidecar_is_a_clear_error_naming_the_file(content, message, tmp_path, capsys):
    result = ex.export(tiny(FEATURES), size=SIZE, out=tmp_path / "m.onnx", verify=False)
    result.sidecar_path.write_text(content)
    with pytest.raises(ex.SidecarError, match=message) as info:
        read_sidecar(result.path)
    assert str(result.sidecar_path) in str(info.value)
    with pytest.raises(ValueError, match=message):
        Runtime(result.path)
    labels = tmp_path / "labels.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(labels)
    code = render_cli.main([str(result.path), str(labels), "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert message in err and str(result.sidecar_path) in err


def test_a_missing_sidecar_with_nothing_embedded_is_refused(tmp_path):
    with pytest.raises(ex.SidecarError, match="no such sidecar"):
        read_sidecar(tmp_path / "none.onnx")
    assert read_sidecar(tmp_path / "none.onnx", required=False) is None


def test_demo_clusters_are_those_of_the_bundle(tmp_path):
    result = ex.export(DEMO_MODEL, size=(64, 128), out=tmp_path / "d.onnx", verify=False)
    bundle = load(DEMO_MODEL)
    clusters = clusters_from_sidecar(result.sidecar)
    assert sorted(clusters) == sorted(bundle.clusters)
    for label in clusters:
        np.testing.assert_array_equal(clusters[label], bundle.clusters[label])
