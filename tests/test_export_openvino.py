# SPDX-License-Identifier: Apache-2.0
"""p2phd-export --to openvino: OpenVINO IR (.xml + .bin) and its sidecar, verified with
OpenVINO against float64 truth, run by Runtime like every other artifact."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from p2phd import checkpoint
from p2phd.atomic import file_sha256
from p2phd.cli import export as export_cli
from p2phd.data.synthetic import synthetic_scene
from p2phd.export import ExportUsageError, export, read_sidecar
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime
from p2phd.sidecar import ARTIFACT_DIGEST, BIN_DIGEST, SidecarError

pytest.importorskip("openvino")
pytest.importorskip("onnx")

FEATURES = GeneratorConfig(
    ngf=4, n_downsample_global=2, n_blocks_global=1, instance_feat=True, feat_num=3
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(3)
    clusters = {26: np.linspace(0, 1, 30, dtype=np.float32).reshape(10, 3)}
    model = checkpoint.LoadedModel(
        config=FEATURES, generator=build_generator(FEATURES), clusters=clusters
    )
    path = tmp_path_factory.mktemp("ir") / "features"
    checkpoint.save_bundle(model, path)
    return path


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(5, 32, 64)


def test_ir_with_preprocess_renders_like_torch(bundle, scene, tmp_path):
    out = tmp_path / "model.xml"
    result = export(
        bundle, to="openvino", size=(32, 64), dynamic=True, with_preprocess=True, out=out
    )
    assert result.path == out and out.is_file() and out.with_suffix(".bin").is_file()
    [check] = result.verifications
    assert (check.stage, check.backend, check.passed) == ("openvino", "openvino", True)
    sidecar = read_sidecar(out)
    assert sidecar["format"] == "openvino" and sidecar["versions"]["openvino"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.bin",
        "model.xml",
        "model.xml.json",
    ]
    runtime = Runtime(out)
    assert runtime.backend == "openvino" and runtime.clusters is not None
    reference = Runtime(bundle, backend="torch")
    for labels, instances in (
        (scene.labels, scene.instances),
        (scene.labels[:20], scene.instances[:20]),
    ):
        image = runtime.render(labels, instances, seed=4)
        difference = np.abs(image.astype(int) - reference.render(labels, instances, seed=4))
        assert difference.mean() <= 0.1 and difference.max() <= 4


def test_fp16_ir_is_verified_and_the_cli_names_both_files(bundle, tmp_path, capsys):
    out = tmp_path / "half.xml"
    argv = [str(bundle), "--to", "openvino", "--precision", "fp16", "--size", "32x64"]
    assert export_cli.main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out} (openvino, fp16)" in printed
    assert f"wrote {out.with_suffix('.bin')} (its weights)" in printed
    assert "verify openvino (openvino) against float64 torch" in printed and ": ok" in printed
    runtime = Runtime(out)
    scene = synthetic_scene(6, 32, 64)
    assert runtime.render(scene.labels, scene.instances).shape == (32, 64, 3)


def test_a_refused_export_leaves_nothing(bundle, tmp_path):
    out = tmp_path / "model.xml"
    with pytest.raises(ExportUsageError, match="--triton-repo takes"):
        export(bundle, to="openvino", size=(32, 64), out=out, triton_repo=tmp_path / "repo")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def two_irs(bundle, tmp_path_factory):
    """Two fixed-size IRs of the same model: fp32 and fp16, so their .bin files differ."""
    folder = tmp_path_factory.mktemp("two")
    paths = []
    for precision in ("fp32", "fp16"):
        out = folder / precision / "model.xml"
        export(bundle, to="openvino", size=(32, 64), precision=precision, out=out, verify=False)
        paths.append(out)
    return paths


def _copy_ir(xml, folder):
    folder.mkdir()
    for name in (xml.name, xml.with_suffix(".bin").name, f"{xml.name}.json"):
        shutil.copy(xml.parent / name, folder / name)
    return folder / xml.name


def test_the_sidecar_holds_the_bin_digest_and_a_swapped_bin_is_refused(two_irs, tmp_path):
    full, half = two_irs
    sidecar = read_sidecar(full)
    assert sidecar[BIN_DIGEST] == file_sha256(full.with_suffix(".bin"))
    xml = _copy_ir(full, tmp_path / "swapped")
    shutil.copy(half.with_suffix(".bin"), xml.with_suffix(".bin"))
    with pytest.raises(SidecarError, match=r"model\.bin: .*export again") as refused:
        Runtime(xml)
    assert "\n" not in str(refused.value)
    xml.with_suffix(".bin").unlink()
    with pytest.raises(SidecarError, match=r"model\.bin: no such file.*export again"):
        Runtime(xml)


def test_a_sidecar_without_the_bin_digest_is_read_on_the_xml_alone(two_irs, tmp_path):
    xml = _copy_ir(two_irs[0], tmp_path / "old")
    sidecar_file = Path(f"{xml}.json")
    sidecar = json.loads(sidecar_file.read_text())
    del sidecar[BIN_DIGEST]  # as p2phd wrote it before it recorded the .bin
    sidecar_file.write_text(json.dumps(sidecar))
    scene = synthetic_scene(7, 32, 64)
    assert Runtime(xml).render(scene.labels, scene.instances).shape == (32, 64, 3)


def test_an_ir_whose_inputs_differ_from_its_sidecar_is_refused(two_irs, tmp_path):
    xml = _copy_ir(two_irs[0], tmp_path / "edited")
    text = xml.read_text()
    # The input's batch 1 -> 2, in its Parameter and its port: a valid IR, not the sidecar's.
    parameter = re.search(r'<layer [^>]*name="input" type="Parameter".*?</layer>', text, re.S)
    assert parameter is not None
    edited = (
        parameter[0].replace('shape="1,', 'shape="2,').replace("<dim>1</dim>", "<dim>2</dim>", 1)
    )
    assert edited != parameter[0]
    xml.write_text(text.replace(parameter[0], edited))
    sidecar_file = Path(f"{xml}.json")
    sidecar = json.loads(sidecar_file.read_text())
    sidecar[ARTIFACT_DIGEST] = file_sha256(xml)
    sidecar_file.write_text(json.dumps(sidecar))
    with pytest.raises(SidecarError, match=r"does not match its artifact: input is float32 2x"):
        Runtime(xml)
