# SPDX-License-Identifier: Apache-2.0
"""The scores of `p2phd-bench quality` on hand-made label maps with known answers."""

import numpy as np
import pytest

from p2phd.quality.scoring import confusion_matrix, psnr, segmentation_score, ssim


def score(truth, predicted, num_classes=4):
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    return segmentation_score(confusion_matrix(truth, predicted, num_classes))


def test_identical_maps_score_100_percent_and_iou_1():
    labels = np.random.default_rng(0).integers(0, 4, (16, 32))
    result = score(labels, labels)
    assert result.pixel_accuracy == 1.0
    assert result.mean_iou == 1.0
    assert result.classes == tuple(np.unique(labels))


def test_a_known_confusion_gives_the_known_iou():
    # Class 0: 1 hit, 1 missed -> IoU 1/2. Class 1: 2 hits, 1 false positive -> IoU 2/3.
    result = score([[0, 0, 1, 1]], [[0, 1, 1, 1]])
    assert result.pixel_accuracy == pytest.approx(3 / 4)
    assert result.classes == (0, 1)
    assert result.iou == pytest.approx((1 / 2, 2 / 3))
    assert result.mean_iou == pytest.approx(7 / 12)


def test_mean_iou_averages_over_the_classes_present_in_the_truth():
    # Class 3 is only predicted: it is not averaged, but its pixels cost class 2 its hits.
    result = score([[2, 2, 2, 2]], [[2, 2, 3, 3]])
    assert result.classes == (2,)
    assert result.mean_iou == pytest.approx(1 / 2)
    assert result.pixel_accuracy == pytest.approx(1 / 2)


def test_confusion_counts_rows_as_truth_and_columns_as_prediction():
    confusion = confusion_matrix(np.array([0, 0, 1]), np.array([1, 1, 1]), 2)
    np.testing.assert_array_equal(confusion, [[0, 2], [0, 1]])


@pytest.mark.parametrize(
    ("truth", "predicted", "error"),
    [
        (np.zeros((2, 2), int), np.zeros((2, 3), int), "differ in shape"),
        (np.full((2, 2), 4), np.zeros((2, 2), int), r"truth labels must lie in \[0, 4\)"),
        (np.zeros((2, 2), int), np.full((2, 2), -1), "predicted labels"),
        (np.zeros((2, 2)), np.zeros((2, 2), int), "must hold integers"),
    ],
)
def test_bad_maps_are_refused(truth, predicted, error):
    with pytest.raises((ValueError, TypeError), match=error):
        confusion_matrix(truth, predicted, 4)


def test_an_empty_confusion_is_refused():
    with pytest.raises(ValueError, match="no pixels"):
        segmentation_score(np.zeros((3, 3), np.int64))


def test_psnr_and_ssim_of_an_image_with_itself():
    image = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    assert psnr(image, image) == float("inf")
    assert ssim(image, image) == pytest.approx(1.0)
    assert psnr(image, 255 - image) < 10
