# SPDX-License-Identifier: Apache-2.0
"""TensorRT-for-RTX engines built ahead of time without a GPU; running one needs a GPU
(marked `cuda`)."""

from __future__ import annotations

import pytest
import torch

from p2phd import export as ex
from tests.export_helpers import GLOBAL, LOCAL, SIZE, TRT_RTX, needs_rtx, onnx_io, tiny


@pytest.fixture(scope="module")
def models():
    return {"global": tiny(GLOBAL), "local": tiny(LOCAL)}


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
    assert result.sidecar["versions"]["tensorrt_module"] == "tensorrt_rtx"
    assert [(v.stage, v.backend) for v in result.verifications] == [
        ("onnx", "onnxruntime"),
        ("engine", "tensorrt"),
    ]
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
def test_rtx_fixed_fp32_engine(models, tmp_path):
    result = ex.export(
        models["global"],
        to="engine",
        size=SIZE,
        compute_capability=["8.6", "8.9"],
        out=tmp_path / "g.engine",
    )
    assert result.sidecar["compute_capability"] == "8.6,8.9"
    assert result.sidecar["inputs"] == [
        {"name": "input", "dtype": "float32", "shape": [1, GLOBAL.input_nc, *SIZE]}
    ]
    assert result.sidecar["outputs"] == [
        {"name": "output", "dtype": "float32", "shape": [1, 3, *SIZE]}
    ]


@needs_rtx
def test_a_failing_onnx_step_is_named_as_such(models, tmp_path, monkeypatch):
    from p2phd.export import onnx as onnx_artifact

    real = onnx_artifact.run_onnxruntime
    monkeypatch.setattr(onnx_artifact, "run_onnxruntime", lambda p, n: real(p, n) + 0.5)
    with pytest.raises(ex.VerificationError, match="the onnx step of the engine export"):
        ex.export(
            models["global"],
            to="engine",
            size=SIZE,
            compute_capability="8.6",
            out=tmp_path / "g.engine",
        )
    assert list(tmp_path.iterdir()) == []


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


def test_missing_tensorrt_names_what_to_install(monkeypatch, models, tmp_path):
    import sys

    # None in sys.modules: importing the module fails as if it were not installed.
    for name in ("tensorrt", "tensorrt_rtx", "tensorrt_rtx_bindings"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ex.ExportError, match=r"pip install \"p2phd\[tensorrt-rtx\]\""):
        ex.export(models["global"], to="engine", size=SIZE, out=tmp_path / "g.engine")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text, expected",
    [("8.6", "8.6"), ("86", "8.6"), ("sm_80", "8.0"), ("12.0", "12.0"), ("120", "12.0")],
)
def test_compute_capability_spellings(text, expected):
    assert ex.parse_compute_capability(text) == expected


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
    check = result.verifications[-1]
    assert (check.stage, check.backend) == ("engine", "tensorrt") and check.passed, check.describe()
