# SPDX-License-Identifier: Apache-2.0
"""An artifact exported at a fixed size renders only the maps it renders as the bundle does
(issue 24): padding a smaller map up to the export size would change the image (instance
norm sees the padding), so such maps are refused with the export that would fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from p2phd import checkpoint
from p2phd.export import export
from p2phd.runtime import Runtime
from tests.export_helpers import GLOBAL, scene, tiny

pytest.importorskip("onnxruntime")

SIZE = (64, 128)  # GLOBAL's stride is 4


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fixed") / "tiny"
    checkpoint.save_bundle(tiny(GLOBAL), path)
    return path


@pytest.fixture(scope="module", params=["onnx", "onnx-preprocess", "torchscript"])
def artifact(request, bundle: Path) -> Path:
    to, _, preprocess = request.param.partition("-")
    out = bundle.parent / f"{request.param}{'.pt' if to == 'torchscript' else '.onnx'}"
    export(bundle, to=to, size=SIZE, with_preprocess=bool(preprocess), out=out, verify=False)
    return out


def _maps(height: int, width: int, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
    labels, instances, _ = scene(GLOBAL, batch, (height, width))
    return labels.numpy(), instances.numpy()


@pytest.mark.parametrize("size", [SIZE, (62, 126), (61, 125)])
def test_maps_that_pad_to_the_export_size_render_as_the_bundle(artifact, bundle, size) -> None:
    labels, instances = _maps(*size)
    image = Runtime(artifact).render(labels, instances)
    reference = Runtime(bundle, device="cpu").render(labels, instances)
    assert image.shape == (1, *size, 3)
    assert np.abs(image.astype(int) - reference).max() <= 1


@pytest.mark.parametrize(("size", "fits"), [((40, 72), "40x72"), ((58, 128), "60x128")])
def test_smaller_maps_are_refused_naming_the_export_that_fits(artifact, size, fits) -> None:
    labels, instances = _maps(*size)
    message = rf"exported for 1 x 64 x 128 maps.*--size {fits}.*--dynamic"
    with pytest.raises(ValueError, match=message):
        Runtime(artifact).render(labels, instances)


def test_other_batches_are_refused_naming_the_batch(artifact) -> None:
    labels, instances = _maps(*SIZE, batch=2)
    with pytest.raises(ValueError, match=r"exported for 1 x 64 x 128 maps.*--batch 2"):
        Runtime(artifact).render(labels, instances)
