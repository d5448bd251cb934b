# SPDX-License-Identifier: Apache-2.0
"""runtime.provenance: the digest of a model file names all of the files it is made of."""

import json

import numpy as np
import pytest

from p2phd.runtime.provenance import artifact_digest

ov = pytest.importorskip("openvino")


def _save_ir(path, scale: float) -> None:
    import openvino.opset13 as ops

    x = ops.parameter([1, 4], ov.Type.f32, name="input")
    weights = ops.constant(np.full((1, 4), scale, np.float32), name="weights")
    y = ops.multiply(x, weights, name="output")
    result = ops.result(y, name="result")
    model = ov.Model([result], [x], "net")
    ov.save_model(model, str(path), compress_to_fp16=False)


def test_an_ir_digest_covers_its_weights(tmp_path):
    # Two IRs of one graph with other weights: the .xml files are equal, the models are not.
    first, second = tmp_path / "a" / "model.xml", tmp_path / "b" / "model.xml"
    for path, scale in ((first, 1.0), (second, 2.0)):
        path.parent.mkdir()
        _save_ir(path, scale)
    assert first.read_bytes() == second.read_bytes()
    assert artifact_digest(first) != artifact_digest(second)


def test_a_digest_covers_the_sidecar(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not really onnx")
    alone = artifact_digest(path)
    path.with_suffix(".onnx.json").write_text(json.dumps({"label_nc": 35}))
    assert artifact_digest(path) != alone
    assert artifact_digest(path) == artifact_digest(path)
