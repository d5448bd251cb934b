# SPDX-License-Identifier: Apache-2.0
"""uint16 label maps (16-bit PNGs), which Runtime accepts, render on every CPU backend as int32
labels do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import p2phd
from p2phd.runtime import Runtime

DEMO = Path(p2phd.__file__).parent / "demo"


@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_uint16_labels_render_as_int32_labels(backend):
    runtime = Runtime(DEMO, backend=backend, device="cpu")
    config = runtime.config
    labels = np.random.default_rng(0).integers(0, config.label_nc, (2, 21, 30))
    instances = labels.astype(np.int32) if config.use_instance else None
    expected = runtime.render(labels.astype(np.int32), instances, seed=1)
    uint16 = labels.astype(np.uint16)
    np.testing.assert_array_equal(runtime.render(uint16, instances, seed=1), expected)
    tensors = [torch.from_numpy(uint16), None if instances is None else torch.from_numpy(instances)]
    np.testing.assert_array_equal(runtime.render(*tensors, seed=1).numpy(), expected)
