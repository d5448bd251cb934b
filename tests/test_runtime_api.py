# SPDX-License-Identifier: Apache-2.0
"""What a user of Runtime sees: typos refused by name, errors of their own types."""

from __future__ import annotations

import numpy as np
import pytest

from p2phd import ops
from p2phd.runtime import Runtime


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
