# SPDX-License-Identifier: Apache-2.0
"""Verification against float64 truth: correct exports pass, broken ones fail and write
nothing. The bundled demo model (trained, so its inputs matter) at small sizes."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from p2phd import export as ex
from p2phd.checkpoint import load
from p2phd.cli import export as cli
from p2phd.cli.render import DEMO_MODEL
from p2phd.export import verify
from p2phd.models import graph
from tests.export_helpers import GLOBAL, SIZE, tiny

pytest.importorskip("onnxruntime")

SMALL = (64, 128)


@pytest.fixture(scope="module")
def demo():
    return load(DEMO_MODEL)


class WrongWeight(nn.Module):
    """The generator with one weight of its first downsampling convolution off by 0.05.

    (One weight deep in the residual blocks moves the demo's image by ~66-72 dB PSNR, which
    is as far as onnxruntime's own rounding at 1024 x 2048: no check on outputs can tell
    those apart, and the rule's floor lets both pass.)"""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = copy.deepcopy(generator)
        conv = [m for m in self.generator.modules() if isinstance(m, nn.Conv2d)][1]
        with torch.no_grad():
            conv.weight.view(-1)[0] += 0.05

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)


class SwappedChannels(nn.Module):
    """The generator fed road (7) where building (11) is, and the reverse."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        order = list(range(x.shape[1]))
        order[7], order[11] = 11, 7
        return self.generator(x[:, order])


class NoEdges(nn.Module):
    """The generator with its instance edge channel (after the label channels) all zero."""

    def __init__(self, generator: nn.Module, label_nc: int) -> None:
        super().__init__()
        self.generator = generator
        self.label_nc = label_nc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        edge = self.label_nc
        zeros = x[:, edge : edge + 1] * 0
        return self.generator(torch.cat([x[:, :edge], zeros, x[:, edge + 1 :]], dim=1))


FAULTS = {
    "wrong_weight": lambda g, config: WrongWeight(g),
    "swapped_channels": lambda g, config: SwappedChannels(g),
    "missing_edges": lambda g, config: NoEdges(g, config.label_nc),
}


def break_export(monkeypatch, fault: str) -> None:
    """Make every export trace a broken generator, while truth stays the real one."""
    real = graph.traced_module

    def broken(generator, config, precision, with_preprocess):
        return real(FAULTS[fault](generator, config), config, precision, with_preprocess)

    monkeypatch.setattr(graph, "traced_module", broken)


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize(
    "kind", [["--to", "onnx"], ["--to", "onnx", "--with-preprocess"], ["--to", "torchscript"]]
)
def test_broken_exports_fail_exit_1_and_write_nothing(fault, kind, tmp_path, monkeypatch, capsys):
    if kind[-1] == "torchscript" and fault != "missing_edges":
        pytest.skip("one TorchScript case is enough: the rule is the same")
    break_export(monkeypatch, fault)
    out = tmp_path / "out" / ("m.pt" if kind[1] == "torchscript" else "m.onnx")
    code = cli.main([str(DEMO_MODEL), *kind, "--size", "64x128", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "verification failed" in err and "float64" in err and "FAILED" in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_correct_exports_pass_with_their_errors_beside_torch(demo, tmp_path):
    for kind in ({"to": "onnx"}, {"to": "onnx", "with_preprocess": True}, {"to": "torchscript"}):
        result = ex.export(demo, size=SMALL, out=tmp_path / "m", **kind)
        [check] = result.verifications
        assert check.passed and check.torch is not None and check.artifact is not None
        text = check.describe()
        for word in ("max abs", "PSNR", "uint8 values differing", "torch fp32", "rule"):
            assert word in text
        if kind.get("with_preprocess"):
            assert check.artifact.share_over_one <= verify.FLOORS[("fp32", True)].share


def test_verification_on_cityscapes_maps(demo, cityscapes, tmp_path, monkeypatch):
    # Every 8th pixel of two Cityscapes maps: 128 x 256 real street layouts.
    maps = [(labels[::8, ::8], instances[::8, ::8]) for _, labels, instances in cityscapes[:2]]
    result = ex.export(
        demo,
        to="onnx",
        size=(128, 256),
        dynamic=True,
        batch=2,
        verify_maps=maps,
        out=tmp_path / "c.onnx",
    )
    assert result.verifications[0].passed
    break_export(monkeypatch, "missing_edges")
    with pytest.raises(ex.VerificationError):
        ex.export(
            demo,
            to="onnx",
            size=(128, 256),
            dynamic=True,
            batch=2,
            verify_maps=maps,
            out=tmp_path / "d.onnx",
        )
    assert not (tmp_path / "d.onnx").exists()


def test_float64_truth_matches_torch_float64():
    model = tiny(GLOBAL)
    sample = verify.make_sample(GLOBAL, verify.synthetic_maps(GLOBAL, 1, SIZE), None)
    with torch.inference_mode():
        expected = copy.deepcopy(model.generator).double()(sample.x.double())
        got = verify.float64_generator(model.generator)(sample.x.double())
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_truth_convolutions_work_in_bands(monkeypatch):
    monkeypatch.setattr(verify, "_UNFOLD_BUDGET", 1)  # one row per band
    torch.manual_seed(0)
    x = torch.randn(2, 5, 19, 23, dtype=torch.float64)
    layers = [
        nn.Conv2d(5, 7, 7),
        nn.Conv2d(5, 7, 3, stride=2, padding=1),
        nn.ConvTranspose2d(5, 7, 3, stride=2, padding=1, output_padding=1),
    ]
    for layer in layers:
        layer = layer.double()
        banded = verify.float64_generator(nn.Sequential(layer))
        torch.testing.assert_close(banded(x), layer(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize("value", ["-1", "nan", "0", "inf"])
def test_tolerance_must_be_a_positive_number(value, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code = cli.main([str(DEMO_MODEL), "--to", "onnx", "--tolerance", value, "--out", str(out)])
    assert code == 2 and "tolerance must be a finite number > 0" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ex.ExportUsageError):
        ex.export(tiny(GLOBAL), size=SIZE, tolerance=float(value), out=out)


def test_tolerance_scales_the_allowance(tmp_path, monkeypatch):
    from p2phd.export import onnx as onnx_artifact

    real = onnx_artifact.run_onnxruntime
    monkeypatch.setattr(onnx_artifact, "run_onnxruntime", lambda p, n: real(p, n) + 0.01)
    model = tiny(GLOBAL)
    with pytest.raises(ex.VerificationError) as info:
        ex.export(model, size=SIZE, out=tmp_path / "a.onnx")
    assert info.value.verification.artifact.max_abs == pytest.approx(0.01, abs=1e-4)
    assert not math.isnan(info.value.verification.torch.rms)
    result = ex.export(model, size=SIZE, out=tmp_path / "b.onnx", tolerance=1e6)
    assert result.verifications[0].passed and "1e+06 x torch" in result.verifications[0].rule
    assert np.isfinite(result.verifications[0].artifact.psnr_db)
