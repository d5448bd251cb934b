# SPDX-License-Identifier: Apache-2.0
"""The evaluation segmenter: network, files, training, and the one shipped with p2phd."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from p2phd.models.segmenter import Segmenter, SegmenterConfig
from p2phd.quality import judge
from p2phd.quality.training import (
    TrainingOptions,
    class_weights,
    scene_tensors,
    train_segmenter,
)

TINY = SegmenterConfig(widths=(4, 4, 8, 8), input_size=(32, 64))


def test_scores_come_back_at_the_photo_size():
    torch.manual_seed(0)
    model = Segmenter(TINY).eval()
    assert model(torch.zeros(2, 3, 32, 64)).shape == (2, 35, 32, 64)
    photos = torch.randint(0, 256, (2, 20, 50, 3), dtype=torch.uint8)
    labels = model.predict(photos)
    assert labels.shape == (2, 20, 50) and labels.dtype == torch.int64
    assert int(labels.min()) >= 0 and int(labels.max()) < 35


def test_predict_refuses_what_is_not_a_batch_of_rgb_photos():
    with pytest.raises(ValueError, match="uint8 N x H x W x 3"):
        Segmenter(TINY).predict(torch.zeros(20, 50, 3, dtype=torch.uint8))


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"label_nc": 1}, "at least 2"),
        ({"widths": (4, 4, 8)}, "4 positive ints"),
        ({"input_size": (30, 64)}, "multiple of 8"),
    ],
)
def test_bad_configs_are_refused(fields, error):
    with pytest.raises(ValueError, match=error):
        SegmenterConfig(**fields)


def test_saved_segmenter_loads_with_the_same_predictions(tmp_path):
    torch.manual_seed(0)
    model = Segmenter(TINY).eval()
    judge.save_segmenter(model, tmp_path / "seg", {"iterations": 0})
    loaded = judge.load_segmenter(tmp_path / "seg")
    assert loaded.config == TINY
    photos = torch.randint(0, 256, (1, 32, 64, 3), dtype=torch.uint8)
    torch.testing.assert_close(loaded.predict(photos), model.predict(photos))
    assert sorted(p.name for p in (tmp_path / "seg").iterdir()) == [
        "config.json",
        "weights.safetensors",
    ]


def test_a_folder_that_is_not_a_segmenter_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no segmenter"):
        judge.load_segmenter(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "p2phd-bundle"}))
    with pytest.raises(ValueError, match="does not describe a p2phd-segmenter"):
        judge.load_segmenter(tmp_path)


def test_class_weights_favour_rare_classes_and_ignore_absent_ones():
    labels = torch.tensor([0] * 90 + [1] * 10)
    weights = class_weights(labels, 3)
    assert weights[2] == 0
    assert weights[1] == pytest.approx(3 * weights[0])
    # Pixel-weighted mean 1: the loss keeps the scale of an unweighted one.
    assert float((weights[:2] * torch.tensor([90.0, 10.0])).sum() / 100) == pytest.approx(1)


def _weighted_loss(model: Segmenter, photos: torch.Tensor, labels: torch.Tensor) -> float:
    """The training objective on the whole batch, BatchNorm on batch statistics as in training."""
    with torch.no_grad():
        scores = model.train()(photos)
    return float(F.cross_entropy(scores, labels, weight=class_weights(labels, TINY.label_nc)))


def test_training_lowers_the_loss_on_tiny_scenes():
    options = TrainingOptions(
        seeds=range(2), scene_size=(32, 64), iterations=20, batch=2, config=TINY, learning_rate=1e-2
    )
    messages = []
    model = train_segmenter(options, progress=messages.append)
    assert not model.training
    assert messages[-1].startswith("iteration 20/20")
    photos, labels = scene_tensors(options.seeds, options.scene_size, TINY.input_size)
    torch.manual_seed(0)  # the initial weights train_segmenter starts from
    before = _weighted_loss(Segmenter(TINY), photos, labels)
    after = _weighted_loss(model, photos, labels)
    # Twenty Adam steps on the same two scenes fit them: the loss falls well below its start.
    assert after < 0.9 * before, (before, after)


def test_the_shipped_segmenter_loads_and_is_small():
    model = judge.load_segmenter()
    size = sum(p.stat().st_size for p in judge.SHIPPED.iterdir())
    assert size <= 5 * 2**20
    training = json.loads((judge.SHIPPED / "config.json").read_text())["training"]
    assert training["held_out_mean_iou"] > 0.5
    photos = torch.from_numpy(np.zeros((1, 64, 128, 3), np.uint8))
    assert model.predict(photos).shape == (1, 64, 128)
