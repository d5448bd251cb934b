# SPDX-License-Identifier: Apache-2.0
"""p2phd-export: TorchScript, ONNX and TensorRT-for-RTX artifacts of tiny generators.

Generators here are tiny (ngf 4-8, one residual block, 64x128) so that the whole file runs in
seconds on two cores. Engine tests need the TensorRT-for-RTX wheels and skip without them;
running an engine needs a GPU (marked `cuda`).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from p2phd import export as ex
from p2phd import ops
from p2phd.checkpoint import LoadedModel, export_public
from p2phd.cli import export as cli
from p2phd.models.config import GeneratorConfig
from p2phd.models.generator import build_generator

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIZE = (64, 128)
GLOBAL = GeneratorConfig(netG="global", ngf=8, n_downsample_global=2, n_blocks_global=1)
LOCAL = GeneratorConfig(
    netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1
)
FEATURES = GeneratorConfig(
    netG="global", ngf=8, n_downsample_global=2, n_blocks_global=1, instance_feat=True
)
SIDECAR_KEYS = {
    "format",
    "config",
    "with_preprocess",
    "precision",
    "inputs",
    "outputs",
    "shape_range",
    "versions",
    "weights_sha256",
    "compute_capability",
}


def _tensorrt_rtx():
    for name in ("tensorrt_rtx", "tensorrt_rtx_bindings"):
        try:
            return __import__(name)
        except ImportError:
            pass
    return None


TRT_RTX = _tensorrt_rtx()
needs_rtx = pytest.mark.skipif(
    TRT_RTX is None,
    reason="TensorRT for RTX not installed (pip install tensorrt-rtx-cu13-bindings "
    "tensorrt-rtx-cu13-libs)",
)


def tiny(config: GeneratorConfig, seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel(config=config, generator=build_generator(config).eval())


@pytest.fixture(scope="module")
def models() -> dict[str, LoadedModel]:
    return {"global": tiny(GLOBAL), "local": tiny(LOCAL), "features": tiny(FEATURES)}


def scene(config: GeneratorConfig, batch: int = 1, size=SIZE, seed: int = 3):
    return ex._scene(config, batch, size, seed)


def torch_output(model: LoadedModel, labels, instances, features=None) -> torch.Tensor:
    x = ops.generator_input(
        labels,
        instances if model.config.use_instance else None,
        model.config.label_nc,
        features=features,
    )
    with torch.inference_mode():
        return model.generator(x)


def onnx_io(path) -> tuple[list[dict], list[dict]]:
    """Sidecar-style description of an ONNX graph's inputs and outputs."""
    graph = onnx.load(str(path), load_external_data=False).graph
    names = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}
    names |= {onnx.TensorProto.INT32: "int32", onnx.TensorProto.UINT8: "uint8"}

    def describe(value) -> dict:
        tensor = value.type.tensor_type
        shape = [d.dim_param if d.dim_param else d.dim_value for d in tensor.shape.dim]
        return {"name": value.name, "dtype": names[tensor.elem_type], "shape": shape}

    return [describe(v) for v in graph.input], [describe(v) for v in graph.output]


def run_onnx(path, **feeds) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: np.asarray(v) for k, v in feeds.items()})[0]


# --------------------------------------------------------------------------------------------
# TorchScript and ONNX
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("net", ["global", "local"])
def test_torchscript_export_verifies_and_runs(models, net, tmp_path):
    model = models[net]
    out = tmp_path / "g.pt"
    result = ex.export(model, to="torchscript", size=SIZE, out=out)
    assert result.path == out and out.is_file()
    [verification] = result.verifications
    assert verification.backend == "torch" and verification.passed
    assert verification.max_abs_error <= ex.FP32_MAX_ABS

    sidecar = json.loads((tmp_path / "g.pt.json").read_text())
    assert set(sidecar) == SIDECAR_KEYS and sidecar == result.sidecar
    assert sidecar["format"] == "torchscript" and sidecar["precision"] == "fp32"
    assert GeneratorConfig.from_dict(sidecar["config"]) == model.config
    assert sidecar["inputs"] == [
        {"name": "input", "dtype": "float32", "shape": [1, model.config.input_nc, *SIZE]}
    ]
    assert sidecar["outputs"] == [{"name": "output", "dtype": "float32", "shape": [1, 3, *SIZE]}]
    assert sidecar["shape_range"] is None and sidecar["compute_capability"] is None
    assert sidecar["versions"]["torch"] == torch.__version__

    labels, instances, _ = scene(model.config)
    x = ops.generator_input(labels, instances, model.config.label_nc)
    loaded = torch.jit.load(str(out))
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model.generator(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("net", ["global", "local"])
@pytest.mark.parametrize("dynamic", [False, True], ids=["fixed", "dynamic"])
def test_onnx_export_verifies_and_matches_torch(models, net, dynamic, tmp_path):
    model = models[net]
    out = tmp_path / "g.onnx"
    result = ex.export(model, to="onnx", size=SIZE, dynamic=dynamic, batch=2, out=out)
    assert result.verifications[0].backend == "onnxruntime" and result.verifications[0].passed

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
        size, batch = (32, 48), 2  # another size and batch than traced and verified
    else:
        size, batch = SIZE, 2
    labels, instances, _ = scene(model.config, batch, size)
    x = ops.generator_input(labels, instances, model.config.label_nc)
    got = run_onnx(out, input=x.numpy())
    np.testing.assert_allclose(got, torch_output(model, labels, instances).numpy(), atol=1e-4)


def test_fp16_onnx_has_half_weights_and_float32_instance_norm(models, tmp_path):
    out = tmp_path / "g.onnx"
    result = ex.export(models["local"], to="onnx", precision="fp16", size=SIZE, out=out)
    verification = result.verifications[0]
    assert verification.passed and verification.psnr_db >= ex.FP16_MIN_PSNR
    graph = onnx.load(str(out)).graph
    assert result.sidecar["inputs"][0]["dtype"] == "float16"
    conv_weights = {n.input[1] for n in graph.node if n.op_type in ("Conv", "ConvTranspose")}
    initializers = {i.name: i for i in graph.initializer}
    assert conv_weights and all(
        initializers[w].data_type == onnx.TensorProto.FLOAT16 for w in conv_weights
    )
    produced_by = {o: n for n in graph.node for o in n.output}
    norms = [n for n in graph.node if n.op_type == "InstanceNormalization"]
    assert norms
    for norm in norms:
        cast = produced_by[norm.input[0]]
        assert cast.op_type == "Cast"
        assert onnx.helper.get_attribute_value(cast.attribute[0]) == onnx.TensorProto.FLOAT


# --------------------------------------------------------------------------------------------
# Pre- and postprocessing inside the graph
# --------------------------------------------------------------------------------------------


def test_in_graph_generator_input_equals_ops_exactly(tmp_path):
    config = LOCAL
    module = ex.GeneratorInput(config, torch.float32)
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
    example = torch.zeros(1, 3, 4, 5)
    torch.onnx.export(
        ex.ToUint8Image(),
        (example,),
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


def test_default_out_names(tmp_path):
    out = ex._default_out(tmp_path / "label2city_1024p" / "latest_net_G.pth", "onnx", "fp16", True)
    assert out.name == "label2city_1024p-fp16-preprocess.onnx"
    assert ex._default_out("ckpt/label2city_1024p/", "engine", "fp32", False).name == (
        "label2city_1024p.engine"
    )


def test_feature_model_takes_features_input(models, tmp_path):
    model = models["features"]
    out = tmp_path / "f.onnx"
    result = ex.export(model, to="onnx", size=SIZE, with_preprocess=True, out=out)
    assert result.verifications[0].passed
    names = [t["name"] for t in result.sidecar["inputs"]]
    assert names == ["labels", "instances", "features"]
    assert result.sidecar["inputs"][2] == {
        "name": "features",
        "dtype": "float32",
        "shape": [1, 3, *SIZE],
    }
    labels, instances, features = scene(model.config)
    got = run_onnx(out, labels=labels, instances=instances, features=features)
    expected = ops.to_uint8_image(torch_output(model, labels, instances, features)).numpy()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


# --------------------------------------------------------------------------------------------
# Sizes, failures, atomicity
# --------------------------------------------------------------------------------------------


def test_default_size_is_1024x2048_rounded_to_the_stride():
    assert ex._resolve_shapes(
        GeneratorConfig(netG="local", ngf=32), None, False, 1, None, None
    ).size == (1024, 2048)
    odd = GeneratorConfig(netG="local", n_downsample_global=5, n_local_enhancers=2, ngf=8)
    assert odd.downsampling == 128
    assert ex._resolve_shapes(odd, None, False, 1, None, None).size == (1024, 2048)
    assert ex._round_size((1000, 2000), 48) == (1008, 2016)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": (60, 128)}, "multiple of the generator's stride 8"),
        ({"size": (8, 128)}, "too small"),
        ({"to": "tflite"}, "format must be one of"),
        ({"precision": "int8"}, "precision"),
        ({"opset": 13}, "opset"),
        ({"dynamic": True, "min_size": (128, 128)}, "min size"),
        ({"compute_capability": "8.6"}, "--to engine only"),
        ({"to": "torchscript", "triton_repo": "repo"}, "Triton"),
    ],
)
def test_usage_errors_are_clear_and_write_nothing(models, tmp_path, kwargs, message):
    kwargs = {"to": "onnx", "size": SIZE, "out": tmp_path / "g.onnx", **kwargs}
    with pytest.raises(ex.ExportUsageError, match=message):
        ex.export(models["local"], **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_failed_verification_leaves_nothing_and_keeps_an_old_file(models, tmp_path, monkeypatch):
    out = tmp_path / "g.onnx"
    out.write_bytes(b"previous export")
    real = ex._run_onnxruntime
    monkeypatch.setattr(ex, "_run_onnxruntime", lambda path, named: real(path, named) + 0.01)
    with pytest.raises(ex.VerificationError) as info:
        ex.export(models["global"], to="onnx", size=SIZE, out=out)
    assert info.value.verification.max_abs_error == pytest.approx(0.01, abs=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]
    assert out.read_bytes() == b"previous export"


def test_tolerance_can_be_given(models, tmp_path, monkeypatch):
    real = ex._run_onnxruntime
    monkeypatch.setattr(ex, "_run_onnxruntime", lambda path, named: real(path, named) + 0.01)
    result = ex.export(
        models["global"], to="onnx", size=SIZE, out=tmp_path / "g.onnx", tolerance=0.02
    )
    assert result.verifications[0].passed and result.verifications[0].tolerance == "max abs <= 0.02"


def test_interrupted_export_leaves_nothing(models, tmp_path, monkeypatch):
    def interrupted(module, example, path, *args):
        path.write_bytes(b"half an onnx file")
        raise KeyboardInterrupt

    monkeypatch.setattr(ex, "_export_onnx", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ex.export(models["global"], to="onnx", size=SIZE, out=tmp_path / "g.onnx")
    assert list(tmp_path.iterdir()) == []


def test_missing_tensorrt_names_what_to_install(monkeypatch, models, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_tensorrt(name, *args, **kwargs):
        if name.startswith("tensorrt"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorrt)
    with pytest.raises(ex.ExportError, match="pip install tensorrt-rtx-cu13-bindings"):
        ex.export(models["global"], to="engine", size=SIZE, out=tmp_path / "g.engine")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text, expected",
    [("8.6", "8.6"), ("86", "8.6"), ("sm_80", "8.0"), ("12.0", "12.0"), ("120", "12.0")],
)
def test_compute_capability_spellings(text, expected):
    assert ex.parse_compute_capability(text) == expected


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, models):
    # A public-layout checkpoint (`tiny/latest_net_G.pth`): loads with torch alone, where a
    # p2phd bundle would need safetensors.
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    export_public(models["local"], path)
    return path


def test_cli_exports_and_reports(bundle, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code = cli.main([str(bundle), "--to", "onnx", "--size", "64x128", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr()
    assert "verify onnxruntime: max abs error" in printed.out and "PSNR" in printed.out
    assert "exporting ONNX" in printed.err  # progress goes to stderr
    assert json.loads((tmp_path / "m.onnx.json").read_text())["format"] == "onnx"


def test_cli_default_out_is_named_after_the_source(bundle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [str(bundle), "--to", "torchscript", "--size", "64x128", "--precision", "fp16"]
    assert cli.main([*argv, "--no-verify", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-fp16.pt", "tiny-fp16.pt.json"]


def test_cli_exit_codes(bundle, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "m.onnx")
    assert cli.main([str(bundle), "--to", "onnx", "--size", "60x128", "--out", out]) == 2
    assert "multiple of the generator's stride 8" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main([str(bundle), "--to", "onnx", "--size", "big"])
    assert info.value.code == 2
    assert cli.main([str(tmp_path / "missing"), "--to", "onnx", "--out", out]) == 1
    assert cli.main([str(bundle), "--to", "onnx", "--label-nc", "3", "--out", out]) == 1
    assert "input channels" in capsys.readouterr().err
    monkeypatch.setattr(ex, "_run_onnxruntime", lambda path, named: np.zeros((1, 3, 64, 128)))
    assert cli.main([str(bundle), "--to", "onnx", "--size", "64x128", "--out", out]) == 1
    assert "verification failed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_public_options_for_a_bundle(models, tmp_path, capsys):
    pytest.importorskip("safetensors")
    from p2phd.checkpoint import save_bundle

    path = tmp_path / "tiny.safetensors"
    save_bundle(models["local"], path)
    out = tmp_path / "m.onnx"
    assert cli.main([str(path), "--to", "onnx", "--label-nc", "3", "--out", str(out)]) == 2
    assert "bundle carries its own configuration" in capsys.readouterr().err
    assert not out.exists()


def test_triton_repository(models, tmp_path):
    repo = tmp_path / "repo"
    result = ex.export(
        models["local"],
        to="onnx",
        size=SIZE,
        dynamic=True,
        batch=4,
        with_preprocess=True,
        out=tmp_path / "city.onnx",
        triton_repo=repo,
        verify=False,
    )
    assert result.triton_model_dir == repo / "city"
    assert (repo / "city" / "1" / "model.onnx").read_bytes() == result.path.read_bytes()
    config = (repo / "city" / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"' in config and "max_batch_size: 4" in config
    assert 'name: "labels"' in config and "TYPE_INT32" in config and "dims: [ -1, -1 ]" in config
    assert "TYPE_UINT8" in config and "dims: [ -1, -1, 3 ]" in config


# --------------------------------------------------------------------------------------------
# TensorRT for RTX
# --------------------------------------------------------------------------------------------


@needs_rtx
@pytest.mark.parametrize("cc", ["8.0", "8.6"])
def test_rtx_engine_builds_from_fp16_onnx_without_a_gpu(models, cc, tmp_path):
    out = tmp_path / "g.engine"
    result = ex.export(
        models["local"],
        to="engine",
        precision="fp16",
        size=SIZE,
        dynamic=True,
        batch=2,
        with_preprocess=True,
        compute_capability=cc,
        out=out,
    )
    assert out.stat().st_size > 0 and result.sidecar["compute_capability"] == cc
    assert result.timing_cache_path == tmp_path / "g.engine.timing-cache"
    assert result.timing_cache_path.is_file()
    assert result.sidecar["versions"]["tensorrt"] == TRT_RTX.__version__
    assert [v.backend for v in result.verifications] == ["onnxruntime", "tensorrt"]
    assert result.verifications[0].passed
    if not torch.cuda.is_available():
        assert result.verifications[1].skipped
    # The sidecar describes the engine's network, which must be the FP16 ONNX's IO.
    onnx_out = ex.export(
        models["local"],
        to="onnx",
        precision="fp16",
        size=SIZE,
        dynamic=True,
        batch=2,
        with_preprocess=True,
        out=tmp_path / "g.onnx",
        verify=False,
    )
    assert result.sidecar["inputs"] == onnx_out.sidecar["inputs"] == onnx_io(onnx_out.path)[0]
    assert result.sidecar["outputs"] == onnx_out.sidecar["outputs"] == onnx_io(onnx_out.path)[1]
    assert result.sidecar["shape_range"] == {
        "min": [1, 16, 16],
        "opt": [1, *SIZE],
        "max": [2, *SIZE],
    }
    data = out.read_bytes()
    assert all(name.encode() in data for name in ("labels", "instances", "image"))


@needs_rtx
def test_rtx_fixed_fp32_engine_and_triton_plan(models, tmp_path):
    result = ex.export(
        models["global"],
        to="engine",
        size=SIZE,
        compute_capability=["8.6", "8.9"],
        out=tmp_path / "g.engine",
        triton_repo=tmp_path / "repo",
        triton_name="p2phd",
    )
    assert result.sidecar["compute_capability"] == "8.6,8.9"
    assert result.sidecar["inputs"] == [
        {"name": "input", "dtype": "float32", "shape": [1, GLOBAL.input_nc, *SIZE]}
    ]
    assert result.sidecar["outputs"] == [
        {"name": "output", "dtype": "float32", "shape": [1, 3, *SIZE]}
    ]
    config = (tmp_path / "repo" / "p2phd" / "config.pbtxt").read_text()
    assert 'platform: "tensorrt_plan"' in config and "max_batch_size: 0" in config
    assert (tmp_path / "repo" / "p2phd" / "1" / "model.plan").is_file()


@needs_rtx
def test_rtx_refuses_unknown_compute_capability(models, tmp_path):
    with pytest.raises(ex.ExportUsageError, match="cannot target compute capability 5.0"):
        ex.export(
            models["global"],
            to="engine",
            size=SIZE,
            compute_capability="5.0",
            out=tmp_path / "g.engine",
            verify=False,
        )
    assert list(tmp_path.iterdir()) == []


@needs_rtx
@pytest.mark.cuda
def test_rtx_engine_runs_on_this_gpu(models, tmp_path):
    major, minor = torch.cuda.get_device_capability()
    if not hasattr(TRT_RTX.ComputeCapability, f"SM{major}{minor}"):
        pytest.skip(f"TensorRT for RTX {TRT_RTX.__version__} cannot target sm_{major}{minor}")
    result = ex.export(
        models["local"],
        to="engine",
        precision="fp16",
        size=SIZE,
        with_preprocess=True,
        compute_capability=f"{major}.{minor}",
        out=tmp_path / "g.engine",
    )
    assert result.verifications[-1].backend == "tensorrt" and result.verifications[-1].passed
    assert not math.isnan(result.verifications[-1].psnr_db)
