# SPDX-License-Identifier: Apache-2.0
"""p2phd-export as a user runs it: the bundled demo model to every kind, a checkpoint fresh
out of p2phd-train, exit codes, and a failed export that leaves nothing."""

from __future__ import annotations

import json

import pytest

from p2phd import export as ex
from p2phd.checkpoint import export_public
from p2phd.cli import export as cli
from p2phd.cli.render import DEMO_MODEL
from tests.export_helpers import LOCAL, SIZE, TRT_RTX, tiny

pytest.importorskip("onnxruntime")

DEMO_KINDS = {
    "onnx": ["--to", "onnx"],
    "onnx-preprocess": ["--to", "onnx", "--with-preprocess"],
    "torchscript": ["--to", "torchscript"],
    "engine": ["--to", "engine", "--compute-capability", "8.6"],
}


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    # A public-layout checkpoint (`tiny/latest_net_G.pth`).
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    export_public(tiny(LOCAL), path)
    return path


@pytest.mark.parametrize("kind", sorted(DEMO_KINDS))
def test_demo_exports_with_the_defaults_but_size(kind, tmp_path, capsys):
    if kind == "engine" and TRT_RTX is None:
        pytest.skip("TensorRT for RTX not installed")
    # The default size (1024 x 2048) takes minutes on two cores; BENCHMARKS.md has it.
    out = tmp_path / "demo.out"
    assert (
        cli.main([str(DEMO_MODEL), *DEMO_KINDS[kind], "--size", "64x128", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr()
    assert "against float64 torch" in printed.out and ": ok" in printed.out
    assert json.loads((tmp_path / "demo.out.json").read_text())["clusters"]


def test_a_checkpoint_from_p2phd_train_exports(tmp_path, monkeypatch, capsys):
    from p2phd.train import Trainer
    from tests.train_helpers import tiny_options, write_scenes

    scenes = write_scenes(tmp_path / "data", 2)
    opts = tiny_options(scenes, tmp_path, "feat", instance_feat=True, max_iters=2)
    Trainer(opts).train()
    monkeypatch.chdir(tmp_path)
    # The default size (1024 x 2048) takes minutes on two cores (BENCHMARKS.md has it).
    assert cli.main([str(tmp_path / "feat"), "--to", "onnx", "--size", "128x256", "--quiet"]) == 0
    assert "against float64 torch" in capsys.readouterr().out
    sidecar = json.loads((tmp_path / "feat.onnx.json").read_text())
    assert sidecar["inputs"][0]["shape"] == [1, 39, 128, 256] and sidecar["clusters"]


def test_cli_exports_and_reports(checkpoint_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code = cli.main([str(checkpoint_dir), "--to", "onnx", "--size", "64x128", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr()
    assert "verify onnx (onnxruntime) against float64 torch: max abs" in printed.out
    assert "torch fp32: max abs" in printed.out and "PSNR" in printed.out
    assert "exporting ONNX" in printed.err  # progress goes to stderr
    assert json.loads((tmp_path / "m.onnx.json").read_text())["format"] == "onnx"


def test_cli_prints_each_verification_once(checkpoint_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert (
        cli.main([str(checkpoint_dir), "--to", "onnx", "--size", "64x128", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr()
    assert (printed.out + printed.err).count("verify onnx (onnxruntime)") == 1


def test_cli_verifies_a_dynamic_export_at_a_smaller_size(checkpoint_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    argv = [str(checkpoint_dir), "--to", "onnx", "--size", "64x128", "--out", str(out)]
    assert cli.main([*argv, "--dynamic", "--verify-size", "32x64"]) == 0
    printed = capsys.readouterr()
    assert "float64 and fp32 at 32x64" in printed.err and ": ok" in printed.out
    assert json.loads((tmp_path / "m.onnx.json").read_text())["shape_range"]


def test_cli_refuses_a_verify_size_a_fixed_artifact_cannot_take(checkpoint_dir, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    argv = [str(checkpoint_dir), "--to", "onnx", "--size", "64x128", "--out", str(out)]
    assert cli.main([*argv, "--verify-size", "32x64"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("p2phd-export: error: verify size 32x64: a fixed-size artifact")
    assert list(tmp_path.iterdir()) == []


def test_cli_default_out_is_named_after_the_source(checkpoint_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [str(checkpoint_dir), "--to", "torchscript", "--size", "64x128", "--precision", "fp16"]
    assert cli.main([*argv, "--no-verify", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny-fp16.pt", "tiny-fp16.pt.json"]


def test_cli_exit_codes(checkpoint_dir, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "m.onnx")
    assert cli.main([str(checkpoint_dir), "--to", "onnx", "--size", "60x128", "--out", out]) == 2
    assert "multiple of the generator's stride 8" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main([str(checkpoint_dir), "--to", "onnx", "--size", "big"])
    assert info.value.code == 2
    assert cli.main([str(tmp_path / "missing"), "--to", "onnx", "--out", out]) == 1
    assert cli.main([str(checkpoint_dir), "--to", "onnx", "--label-nc", "3", "--out", out]) == 1
    assert "input channels" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_public_options_for_a_bundle(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert cli.main([str(DEMO_MODEL), "--to", "onnx", "--label-nc", "3", "--out", str(out)]) == 2
    assert "bundle carries its own configuration" in capsys.readouterr().err
    assert not out.exists()


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
        ({"triton_instances": "gpu:1"}, "needs --triton-repo"),
        ({"verify_size": (32, 64)}, "fixed-size artifact takes 64x128 only"),
        ({"dynamic": True, "verify_size": (64, 256)}, "outside the artifact's range"),
        ({"dynamic": True, "verify_size": (30, 64)}, "verify size 30x64 is not a multiple"),
    ],
)
def test_usage_errors_are_clear_and_write_nothing(tmp_path, kwargs, message):
    kwargs = {"to": "onnx", "size": SIZE, "out": tmp_path / "g.onnx", **kwargs}
    with pytest.raises(ex.ExportUsageError, match=message):
        ex.export(tiny(LOCAL), **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_failed_verification_keeps_an_old_file(tmp_path, monkeypatch):
    from p2phd.export import onnx as onnx_artifact

    out = tmp_path / "g.onnx"
    out.write_bytes(b"previous export")
    real = onnx_artifact.run_onnxruntime
    monkeypatch.setattr(onnx_artifact, "run_onnxruntime", lambda p, n: real(p, n) + 0.1)
    with pytest.raises(ex.VerificationError):
        ex.export(tiny(LOCAL), to="onnx", size=SIZE, out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.onnx"]
    assert out.read_bytes() == b"previous export"


def test_interrupted_export_leaves_nothing(tmp_path, monkeypatch):
    from p2phd.export import onnx as onnx_artifact

    def interrupted(module, example, path, *args):
        path.write_bytes(b"half an onnx file")
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_artifact, "export_onnx", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ex.export(tiny(LOCAL), to="onnx", size=SIZE, out=tmp_path / "g.onnx")
    assert list(tmp_path.iterdir()) == []
