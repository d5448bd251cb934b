# SPDX-License-Identifier: Apache-2.0
"""What a user of Runtime sees: typos refused by name, errors of their own types, one
meaning of device="auto", and the documented layouts of its images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from p2phd import export as ex
from p2phd import ops
from p2phd.runtime import Runtime
from tests.export_helpers import GLOBAL, SIZE, tiny


@pytest.mark.parametrize(("typo", "meant"), [("lable_nc", "label_nc"), ("devce", "device")])
def test_a_misspelt_keyword_is_refused_naming_the_closest(typo, meant):
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{typo}'.*'{meant}'"):
        Runtime("demo", **{typo: 20})


def test_a_label_outside_the_classes_raises_label_range_error():
    runtime = Runtime("demo", device="cpu")
    labels = np.zeros((8, 8), np.uint8)
    labels[3, 3] = 200
    with pytest.raises(ops.LabelRangeError, match=r"labels must lie in \[0, 35\)") as caught:
        runtime.render(labels, np.zeros((8, 8), np.int32))
    assert caught.value.label == 200


def test_auto_is_cuda_for_onnx_as_for_every_backend_when_it_can_run_there(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    path = tmp_path / "g.onnx"
    ex.export(tiny(GLOBAL), to="onnx", size=SIZE, out=path, verify=False)
    usable = torch.cuda.is_available() and (
        "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    )
    assert Runtime(path).device.type == ("cuda" if usable else "cpu")
    assert Runtime("demo").device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_uint8_images_are_channels_last_and_floats_channels_first():
    runtime = Runtime("demo", device="cpu")
    labels, instances = np.zeros((2, 6, 10), np.uint8), np.zeros((2, 6, 10), np.int32)
    assert runtime.render(labels, instances).shape == (2, 6, 10, 3)
    assert runtime.render(labels, instances, output="float").shape == (2, 3, 6, 10)
