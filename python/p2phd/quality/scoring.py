# SPDX-License-Identifier: Apache-2.0
"""Scores of a render: segmentation against the input label map (pixel accuracy, mean IoU,
as pix2pixHD's Table 1), and PSNR / SSIM against the synthetic photo."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 num_classes x num_classes counts: row = true class, column = predicted class,
    over all pixels of two integer maps of one shape."""
    truth = np.asarray(truth)
    predicted = np.asarray(predicted)
    if truth.shape != predicted.shape:
        raise ValueError(f"label maps differ in shape: {truth.shape} vs {predicted.shape}")
    for name, labels in (("truth", truth), ("predicted", predicted)):
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{name} must hold integers, got {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} labels must lie in [0, {num_classes})")
    pairs = truth.astype(np.int64).ravel() * num_classes + predicted.astype(np.int64).ravel()
    counts = np.bincount(pairs, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


@dataclass(frozen=True)
class SegmentationScore:
    """`pixel_accuracy` in [0, 1]; `mean_iou` over `classes`, the classes present in the
    true maps (a class only predicted still counts against them as false positives)."""

    pixel_accuracy: float
    mean_iou: float
    classes: tuple[int, ...]
    iou: tuple[float, ...]


def segmentation_score(confusion: np.ndarray) -> SegmentationScore:
    """Pixel accuracy and per-class / mean IoU of a confusion matrix (rows: truth)."""
    confusion = np.asarray(confusion, dtype=np.int64)
    total = confusion.sum()
    if total == 0:
        raise ValueError("the confusion matrix counts no pixels")
    hits = np.diag(confusion)
    true_count = confusion.sum(1)
    union = true_count + confusion.sum(0) - hits
    present = np.flatnonzero(true_count)
    iou = hits[present] / union[present]
    return SegmentationScore(
        pixel_accuracy=float(hits.sum() / total),
        mean_iou=float(iou.mean()),
        classes=tuple(int(c) for c in present),
        iou=tuple(float(v) for v in iou),
    )


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (inf when identical)."""
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean SSIM of two H x W x 3 uint8 images (Wang et al. 2004: 11x11 Gaussian window,
    sigma 1.5, K1 0.01, K2 0.03), averaged over the colour channels."""
    x = torch.from_numpy(image).double().permute(2, 0, 1)[:, None]
    y = torch.from_numpy(reference).double().permute(2, 0, 1)[:, None]
    coords = torch.arange(11, dtype=torch.float64) - 5
    gauss = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = (gauss[:, None] * gauss[None, :] / gauss.sum() ** 2)[None, None]

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(index.mean())
