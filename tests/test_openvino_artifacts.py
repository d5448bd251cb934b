# SPDX-License-Identifier: Apache-2.0
"""Exported files on the openvino backend (ONNX, OpenVINO IR), and the precision of exported
artifacts: honoured by OpenVINO, refused where a backend runs an artifact as it is."""

import json
from pathlib import Path

import numpy as np
import pytest

from p2phd.atomic import file_sha256
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig
from p2phd.runtime import Runtime
from p2phd.sidecar import ARTIFACT_DIGEST
from tests.model_helpers import save_random_bundle

ov = pytest.importorskip("openvino")
pytest.importorskip("onnx")

TINY = GeneratorConfig(ngf=4, n_downsample_global=2, n_blocks_global=1)
CAPABILITIES = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return save_random_bundle(tmp_path_factory.mktemp("artifacts") / "tiny", TINY, seed=2)


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(4, 32, 48)


@pytest.fixture(scope="module")
def exports(bundle, tmp_path_factory):
    """A dynamic plain ONNX and a fixed-size ONNX with preprocessing, exported by p2phd."""
    from p2phd.export import export

    folder = tmp_path_factory.mktemp("exports")
    plain, maps = folder / "plain.onnx", folder / "maps.onnx"
    export(
        bundle, to="onnx", size=(32, 48), dynamic=True, max_size=(64, 64), out=plain, progress=None
    )
    export(bundle, to="onnx", size=(32, 48), with_preprocess=True, out=maps, progress=None)
    return plain, maps


def test_onnx_runs_on_openvino_by_default_on_a_cpu(bundle, exports, scene):
    plain, maps = exports
    reference = Runtime(bundle, backend="torch")
    runtime = Runtime(plain)
    assert (runtime.backend, runtime.precision) == ("openvino", "fp32")
    floats = runtime.render(scene.labels, scene.instances, output="float")
    expected = reference.render(scene.labels, scene.instances, output="float")
    assert np.abs(floats - expected).max() <= 1e-4
    end_to_end = Runtime(maps)
    assert end_to_end.backend == "openvino"
    image = end_to_end.render(scene.labels, scene.instances)
    difference = np.abs(image.astype(int) - reference.render(scene.labels, scene.instances))
    assert difference.max() <= 1
    # A smaller map would be padded to the export's size and render another image: refused.
    with pytest.raises(ValueError, match="would render differently"):
        end_to_end.render(scene.labels[:30, :40], scene.instances[:30, :40])
    with pytest.raises(ValueError, match="exported for 1 x 32 x 48 maps"):
        end_to_end.render(scene.labels[None].repeat(2, 0), scene.instances[None].repeat(2, 0))


def test_exported_precision_is_honoured_or_refused(exports, scene):
    plain, _ = exports
    if "BF16" in CAPABILITIES:
        runtime = Runtime(plain, precision="bf16")
        assert (runtime.backend, runtime.precision) == ("openvino", "bf16")
        assert runtime.render(scene.labels, scene.instances).shape == (32, 48, 3)
    assert Runtime(plain, backend="onnxruntime", precision="fp32").precision == "fp32"
    with pytest.raises(
        ValueError, match="fp32 export, which the onnxruntime backend runs as it is"
    ):
        Runtime(plain, backend="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="runs on the openvino or onnxruntime backend"):
        Runtime(plain, backend="torchscript")


def test_openvino_ir_loads_and_never_needs_its_files_again(bundle, exports, scene, tmp_path):
    plain, _ = exports
    xml = tmp_path / "plain.xml"
    ov.save_model(ov.Core().read_model(str(plain)), str(xml), compress_to_fp16=False)
    # The ONNX's sidecar, its digest now that of the IR written here.
    sidecar = json.loads(Path(f"{plain}.json").read_text())
    sidecar[ARTIFACT_DIGEST] = file_sha256(xml)
    Path(f"{xml}.json").write_text(json.dumps(sidecar))
    runtime = Runtime(xml)
    assert runtime.backend == "openvino" and runtime.config == TINY
    expected = Runtime(bundle, backend="torch").render(
        scene.labels, scene.instances, output="float"
    )
    with pytest.raises(ValueError, match="runs on the openvino backend, not 'onnxruntime'"):
        Runtime(xml, backend="onnxruntime")
    for path in (xml, xml.with_suffix(".bin")):
        path.unlink()  # loaded without mmap: the weights are in memory
    floats = runtime.render(scene.labels, scene.instances, output="float")
    assert np.abs(floats - expected).max() <= 1e-4


def test_auto_picks_openvino_for_files_on_the_cpu_only():
    from pathlib import Path

    from p2phd.runtime.artifacts import artifact_backend

    onnx, ir = Path("m.onnx"), Path("m.xml")
    assert artifact_backend(onnx, "auto", "auto") == "openvino"
    assert artifact_backend(onnx, "auto", "cpu") == "openvino"
    assert artifact_backend(onnx, "auto", "cuda") == "onnxruntime"
    assert artifact_backend(ir, "auto", "cpu") == "openvino"
    assert artifact_backend(Path("m.engine"), "auto", "auto") == "tensorrt"
    assert artifact_backend(Path("m.pt"), "auto", "cpu") == "torchscript"
    with pytest.raises(ValueError, match="renders on the CPU, not on cuda"):
        artifact_backend(onnx, "openvino", "cuda")
