# SPDX-License-Identifier: Apache-2.0
"""p2phd-export --to onnx: plain and end-to-end graphs of tiny generators, FP32 and FP16."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from p2phd import export as ex
from p2phd import ops
from p2phd.export import arguments, common
from p2phd.models import graph
from p2phd.models.config import GeneratorConfig
from tests.export_helpers import (
    FEATURES,
    GLOBAL,
    LOCAL,
    SIZE,
    onnx_io,
    run_onnx,
    scene,
    tiny,
    torch_output,
)

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def models():
    return {"global": tiny(GLOBAL), "local": tiny(LOCAL), "features": tiny(FEATURES)}


@pytest.mark.parametrize("net", ["global", "local"])
@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed", "dynamic"])
def test_onnx_export_verifies_and_matches_torch(models, net, dynamic, tmp_path):
    model = models[net]
    out = tmp_path / "g.onnx"
    result = ex.export(model, to="onnx", size=SIZE, dynamic=dynamic, batch=2, out=out)
    [verification] = result.verifications
    assert (verification.stage, verification.backend) == ("onnx", "onnxruntime")
    assert verification.passed and verification.torch.max_abs < 1e-4

    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    inputs, outputs = onnx_io(out)
    assert inputs == result.sidecar["inputs"] and outputs == result.sidecar["outputs"]
    embedded = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(embedded["p2phd"])["config"] == model.config.to_dict()

    if dynamic:
        assert inputs[0]["shape"] == ["batch", model.config.input_nc, "height", "width"]
        stride = model.config.downsampling
        assert result.sidecar["shape_range"] == {
            "min": [1, 2 * stride, 2 * stride],
            "opt": [1, *SIZE],
            "max": [2, *SIZE],
        }
        size = (32, 48)  # another size than traced and verified
    else:
        size = SIZE
    labels, instances, _ = scene(model.config, 2, size)
    x = ops.generator_input(labels, instances, model.config.label_nc)
    got = run_onnx(out, input=x.numpy())
    np.testing.assert_allclose(got, torch_output(model, labels, instances).numpy(), atol=1e-4)


def test_fp16_onnx_has_half_weights_and_float32_instance_norm(models, tmp_path):
    out = tmp_path / "g.onnx"
    result = ex.export(models["local"], to="onnx", precision="fp16", size=SIZE, out=out)
    verification = result.verifications[0]
    assert verification.passed and verification.precision == "fp16"
    assert verification.torch.max_abs > 1e-4  # the FP16 torch run is the yardstick
    graph_proto = onnx.load(str(out)).graph
    assert result.sidecar["inputs"][0]["dtype"] == "float16"
    conv_weights = {n.input[1] for n in graph_proto.node if n.op_type in ("Conv", "ConvTranspose")}
    initializers = {i.name: i for i in graph_proto.initializer}
    assert conv_weights and all(
        initializers[w].data_type == onnx.TensorProto.FLOAT16 for w in conv_weights
    )
    produced_by = {o: n for n in graph_proto.node for o in n.output}
    norms = [n for n in graph_proto.node if n.op_type == "InstanceNormalization"]
    assert norms
    for norm in norms:
        cast = produced_by[norm.input[0]]
        assert cast.op_type == "Cast"
        assert onnx.helper.get_attribute_value(cast.attribute[0]) == onnx.TensorProto.FLOAT


def test_in_graph_generator_input_equals_ops_exactly(tmp_path):
    config = LOCAL
    module = graph.GeneratorInput(config, torch.float32)
    labels, instances, _ = scene(config, 2)
    path = tmp_path / "prepare.onnx"
    torch.onnx.export(
        module,
        (labels, instances),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["labels", "instances"],
        output_names=["x"],
        dynamic_axes={"labels": [0, 1, 2], "instances": [0, 1, 2]},
    )
    types = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Equal", "Not", "Or", "Pad", "Slice"} <= types
    # Another scene and size than traced, with touching instances of one class.
    labels, instances, _ = scene(config, 3, (40, 72), seed=11)
    instances[:, 5:9, 5:30] = 26001
    instances[:, 5:9, 30:50] = 26002
    got = run_onnx(path, labels=labels.numpy(), instances=instances.numpy())
    expected = ops.generator_input(labels, instances, config.label_nc)
    np.testing.assert_array_equal(got, expected.numpy())


def test_in_graph_uint8_conversion_equals_ops_exactly(tmp_path):
    path = tmp_path / "finish.onnx"
    torch.onnx.export(
        graph.ToUint8Image(),
        (torch.zeros(1, 3, 4, 5),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["y"],
        output_names=["image"],
        dynamic_axes={"y": [0, 2, 3]},
    )
    nodes = onnx.load(str(path)).graph.node
    assert nodes[-1].op_type == "Cast"  # UINT8 only on the network output, for TensorRT
    ties = (torch.arange(256) + 0.5) / 255 * 2 - 1  # exact .5 ties, rounded to even
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -1.5, 1.5, 0.0])
    values = torch.cat([ties, special, torch.rand(3 * 7 * 9 * 2 - 262) * 2.2 - 1.1])
    y = values[torch.randperm(values.numel())].reshape(2, 3, 7, 9).contiguous()
    np.testing.assert_array_equal(run_onnx(path, y=y.numpy()), ops.to_uint8_image(y).numpy())


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("net", ["global", "local"])
def test_with_preprocess_onnx_equals_ops_pipeline(models, net, precision, tmp_path):
    model = models[net]
    out = tmp_path / "g.onnx"
    result = ex.export(
        model,
        to="onnx",
        precision=precision,
        size=SIZE,
        dynamic=True,
        with_preprocess=True,
        out=out,
    )
    assert result.verifications[0].passed
    assert result.sidecar["inputs"] == [
        {"name": "labels", "dtype": "int32", "shape": ["batch", "height", "width"]},
        {"name": "instances", "dtype": "int32", "shape": ["batch", "height", "width"]},
    ]
    assert result.sidecar["outputs"] == [
        {"name": "image", "dtype": "uint8", "shape": ["batch", "height", "width", 3]}
    ]
    assert onnx_io(out) == (result.sidecar["inputs"], result.sidecar["outputs"])
    assert onnx.load(str(out)).graph.node[-1].op_type == "Cast"

    labels, instances, _ = scene(model.config, 2, seed=7)
    got = run_onnx(out, labels=labels.numpy(), instances=instances.numpy())
    y = torch_output(model, labels, instances)
    expected = ops.to_uint8_image(y).numpy()
    assert got.dtype == np.uint8 and got.shape == expected.shape == (2, *SIZE, 3)
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max() <= 1
    if precision == "fp32":
        # Equal except where the float output lies within float error of a rounding tie.
        scaled = (y.clamp(-1, 1).permute(0, 2, 3, 1).numpy() + 1) / 2 * 255
        off = diff > 0
        assert off.mean() < 1e-3
        assert np.all(np.abs(scaled[off] - np.floor(scaled[off]) - 0.5) < 1e-3)


def test_model_without_instances_takes_labels_only(tmp_path):
    model = tiny(GeneratorConfig(use_instance=False, label_nc=12, ngf=4, n_downsample_global=2))
    result = ex.export(model, to="onnx", size=SIZE, with_preprocess=True, out=tmp_path / "m.onnx")
    assert result.verifications[0].passed
    assert [t["name"] for t in result.sidecar["inputs"]] == ["labels"]
    labels, instances, _ = scene(model.config)
    got = run_onnx(result.path, labels=labels.numpy())
    expected = ops.to_uint8_image(torch_output(model, labels, instances)).numpy()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_feature_model_takes_features_input(models, tmp_path):
    model = models["features"]
    out = tmp_path / "f.onnx"
    result = ex.export(model, to="onnx", size=SIZE, with_preprocess=True, out=out)
    assert result.verifications[0].passed
    assert [t["name"] for t in result.sidecar["inputs"]] == ["labels", "instances", "features"]
    assert result.sidecar["inputs"][2] == {
        "name": "features",
        "dtype": "float32",
        "shape": [1, 3, *SIZE],
    }
    labels, instances, features = scene(model.config)
    got = run_onnx(out, labels=labels, instances=instances, features=features)
    expected = ops.to_uint8_image(torch_output(model, labels, instances, features)).numpy()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_simplifier_keeps_the_end_to_end_graph_small(models, tmp_path):
    onnxslim = pytest.importorskip("onnxslim")
    # At a fixed size a simplifier can fold shape arithmetic; a full-size zeros_like in the
    # uint8 conversion would become a 3 x H x W float constant (8 MB at 1024 x 2048).
    size = (256, 512)
    out = tmp_path / "g.onnx"
    ex.export(models["global"], to="onnx", size=size, with_preprocess=True, out=out, verify=False)
    slim = onnxslim.slim(str(out))
    largest = max(onnx.numpy_helper.to_array(t).size for t in slim.graph.initializer)
    weights = max(p.numel() for p in models["global"].generator.parameters())
    assert largest <= max(weights, models["global"].config.label_nc)
    assert slim.ByteSize() < 1.2 * onnx.load(str(out)).ByteSize()


def test_default_out_names(tmp_path):
    default_out = arguments.default_out
    out = default_out(tmp_path / "label2city_1024p" / "latest_net_G.pth", "onnx", "fp16", True)
    assert out.name == "label2city_1024p-fp16-preprocess.onnx"
    assert default_out("ckpt/label2city_1024p/", "engine", "fp32", False).name == (
        "label2city_1024p.engine"
    )


def test_default_size_is_1024x2048_rounded_to_the_stride():
    resolve = common.resolve_shapes
    assert resolve(GeneratorConfig(netG="local", ngf=32), None, False, 1, None, None).size == (
        1024,
        2048,
    )
    odd = GeneratorConfig(netG="local", n_downsample_global=5, n_local_enhancers=2, ngf=8)
    assert odd.downsampling == 128
    assert resolve(odd, None, False, 1, None, None).size == (1024, 2048)
    assert common.round_size((1000, 2000), 48) == (1008, 2016)
