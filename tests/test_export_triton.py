# SPDX-License-Identifier: Apache-2.0
"""Triton repositories: every config.pbtxt parsed with Triton's own ModelConfig protobuf and
checked against the model file it describes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from p2phd import export as ex
from p2phd.cli import export as cli
from tests.export_helpers import GLOBAL, LOCAL, SIZE, needs_rtx, onnx_io, tiny

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")
pytest.importorskip("onnx")

TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "int32": "TYPE_INT32",
    "uint8": "TYPE_UINT8",
}
TORCH_TYPES = {"TYPE_FP32": torch.float32, "TYPE_FP16": torch.float16, "TYPE_INT32": torch.int32}


def parse(model_dir) -> model_config_pb2.ModelConfig:
    return text_format.Parse(
        (model_dir / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )


def described(tensors) -> list[tuple[str, str, list[int]]]:
    return [(t.name, model_config_pb2.DataType.Name(t.data_type), list(t.dims)) for t in tensors]


@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "fixed"])
def test_onnx_repository_matches_the_model_file(dynamic, tmp_path):
    repo = tmp_path / "repo"
    kwargs = {"dynamic": True, "batch": 4} if dynamic else {"batch": 2}
    result = ex.export(
        tiny(LOCAL),
        to="onnx",
        size=SIZE,
        with_preprocess=True,
        out=tmp_path / "city.onnx",
        triton_repo=repo,
        verify=False,
        **kwargs,
    )
    assert result.triton_model_dir == repo / "city" / "1"
    model_file = repo / "city" / "1" / "model.onnx"
    assert model_file.read_bytes() == result.path.read_bytes()
    config = parse(repo / "city")
    assert config.name == "city" and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == (4 if dynamic else 0)
    assert config.HasField("dynamic_batching") == dynamic
    assert not config.instance_group  # Triton's choice: GPU where there is one, else CPU
    inputs, outputs = onnx_io(model_file)

    def expected(tensors):
        rows = []
        for t in tensors:
            shape = t["shape"][1:] if dynamic else t["shape"]
            rows.append(
                (t["name"], TYPES[t["dtype"]], [-1 if isinstance(d, str) else d for d in shape])
            )
        return rows

    assert described(config.input) == expected(inputs)
    assert described(config.output) == expected(outputs)


def test_torchscript_repository_matches_the_model_file(tmp_path):
    repo = tmp_path / "repo"
    ex.export(
        tiny(LOCAL),
        to="torchscript",
        size=SIZE,
        with_preprocess=True,
        dynamic=True,
        batch=2,
        out=tmp_path / "city.pt",
        triton_repo=repo,
        triton_instances="cpu:2",
        verify=False,
    )
    config = parse(repo / "city")
    assert config.platform == "pytorch_libtorch" and config.max_batch_size == 2
    assert [(g.kind, g.count) for g in config.instance_group] == [
        (model_config_pb2.ModelInstanceGroup.KIND_CPU, 2)
    ]
    assert described(config.input) == [
        ("labels__0", "TYPE_INT32", [-1, -1]),
        ("instances__1", "TYPE_INT32", [-1, -1]),
    ]
    assert described(config.output) == [("image__0", "TYPE_UINT8", [-1, -1, 3])]
    # The model file takes exactly these inputs, and returns the output as described.
    module = torch.jit.load(str(repo / "city" / "1" / "model.pt"))
    assert len(module.forward.schema.arguments) - 1 == len(config.input)  # without self
    feeds = [
        torch.zeros((2, *SIZE), dtype=TORCH_TYPES[model_config_pb2.DataType.Name(t.data_type)])
        for t in config.input
    ]
    with torch.inference_mode():
        image = module(*feeds)
    assert image.dtype == torch.uint8 and list(image.shape[1:]) == [*SIZE, 3]


def test_versions_are_added_never_overwritten(tmp_path):
    repo = tmp_path / "repo"
    for seed in (0, 1):
        ex.export(
            tiny(GLOBAL, seed=seed),
            to="onnx",
            size=SIZE,
            out=tmp_path / f"g{seed}.onnx",
            triton_repo=repo,
            triton_name="g",
            verify=False,
        )
    versions = sorted(p.name for p in (repo / "g").iterdir() if p.is_dir())
    assert versions == ["1", "2"]
    assert (repo / "g" / "1" / "model.onnx").read_bytes() == (tmp_path / "g0.onnx").read_bytes()
    assert (repo / "g" / "2" / "model.onnx").read_bytes() == (tmp_path / "g1.onnx").read_bytes()
    assert sorted(p.name for p in (repo / "g").iterdir()) == ["1", "2", "config.pbtxt"]


@pytest.mark.parametrize("value", ["tpu:1", "gpu:0", "gpu", "gpu:x"])
def test_bad_instance_groups_are_usage_errors(value, tmp_path, capsys):
    argv = ["unused", "--to", "onnx", "--triton-repo", str(tmp_path), "--triton-instances", value]
    assert cli.main(argv) == 2
    assert "--triton-instances takes KIND:COUNT" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@needs_rtx
def test_rtx_engine_is_refused_for_triton(tmp_path, capsys):
    with pytest.raises(
        ex.ExportUsageError, match="TensorRT-for-RTX engine cannot go into a Triton"
    ):
        ex.export(
            tiny(GLOBAL),
            to="engine",
            size=SIZE,
            compute_capability="8.6",
            out=tmp_path / "g.engine",
            triton_repo=tmp_path / "repo",
        )
    assert list(tmp_path.iterdir()) == []


def test_a_full_tensorrt_plan_gets_tensorrt_plan(tmp_path):
    from p2phd.export import triton

    sidecar = {
        "format": "engine",
        "inputs": [{"name": "input", "dtype": "float32", "shape": [1, 39, 64, 128]}],
        "outputs": [{"name": "output", "dtype": "float32", "shape": [1, 3, 64, 128]}],
        "shape_range": None,
        "versions": {"tensorrt_module": "tensorrt"},
    }
    (tmp_path / "g.engine").write_bytes(b"plan")
    version = triton.write_triton(tmp_path / "repo", "g", tmp_path / "g.engine", sidecar)
    config = parse(version.parent)
    assert config.platform == "tensorrt_plan" and (version / "model.plan").read_bytes() == b"plan"
    assert [g.kind for g in config.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
    assert described(config.input) == [("input", "TYPE_FP32", [1, 39, 64, 128])]
    np.testing.assert_equal(config.max_batch_size, 0)


def test_a_version_folder_gets_the_umask_without_changing_it(tmp_path, monkeypatch):
    # os.umask sets the process's umask to read it: another thread's file would get 0.
    old = os.umask(0o027)
    try:
        calls = []
        monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or 0o027)
        ex.export(
            tiny(GLOBAL),
            to="onnx",
            size=SIZE,
            out=tmp_path / "g.onnx",
            triton_repo=tmp_path / "repo",
            triton_name="g",
            verify=False,
        )
        monkeypatch.undo()
    finally:
        os.umask(old)
    assert calls == []
    assert (tmp_path / "repo" / "g" / "1").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "repo" / "g" / "config.pbtxt").stat().st_mode & 0o777 == 0o640
