# SPDX-License-Identifier: Apache-2.0
"""Training of the evaluation segmenter on synthetic scenes (photo -> label map), the code
behind tools/train_segmenter.py. Everything is seeded: one command, one set of weights (on
one machine and thread count)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from p2phd.data.synthetic import NUM_LABELS, synthetic_scene
from p2phd.models.segmenter import Segmenter, SegmenterConfig, resize_photo

from .scoring import SegmentationScore, confusion_matrix, segmentation_score


@dataclass(frozen=True)
class TrainingOptions:
    seeds: range = range(200000, 201000)
    """Training scenes: disjoint from the generators' (0-1499) and the held-out ones."""
    scene_size: tuple[int, int] = (256, 512)
    """Scenes are drawn at the size the bench renders, then resized as the bench does."""
    iterations: int = 700
    batch: int = 8
    learning_rate: float = 2e-3
    config: SegmenterConfig = SegmenterConfig()


def scene_tensors(
    seeds: range, scene_size: tuple[int, int], input_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos (float N x 3 x h x w in [-1, 1]) and label maps (int64 N x h x w) of the
    synthetic scenes of `seeds`, drawn at `scene_size` and brought to `input_size` (h x w):
    photos as `Segmenter.predict` resizes them, labels by nearest neighbour."""
    photos, labels = [], []
    for seed in seeds:
        scene = synthetic_scene(seed, *scene_size)
        photo = torch.from_numpy(scene.image).permute(2, 0, 1)[None].float() / 127.5 - 1
        photos.append(resize_photo(photo, input_size)[0])
        label = torch.from_numpy(scene.labels)[None, None].float()
        labels.append(F.interpolate(label, size=input_size, mode="nearest")[0, 0].long())
    return torch.stack(photos), torch.stack(labels)


def class_weights(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """1 / sqrt(pixel frequency) of each class present, scaled to a pixel-weighted mean of 1
    and capped at 10x the most common class's, so that thin classes (poles, signs, bicycles)
    count in the loss without swamping it; absent classes get 0."""
    counts = torch.bincount(labels.flatten(), minlength=num_classes).double()
    weights = torch.zeros(num_classes, dtype=torch.float64)
    present = counts > 0
    weights[present] = counts[present].rsqrt()
    weights = torch.minimum(weights, weights[present].min() * 10)
    weights /= (weights * counts).sum() / counts.sum()
    return weights.float()


def train_segmenter(
    options: TrainingOptions, progress: Callable[[str], None] | None = None
) -> Segmenter:
    """A `Segmenter` trained with class-weighted cross-entropy, Adam and a polynomial decay
    of the learning rate, on random horizontally flipped batches of the scenes of
    `options.seeds`."""
    say = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    config = options.config
    started = time.monotonic()
    say(
        f"drawing {len(options.seeds)} training scenes at {options.scene_size[0]}x"
        f"{options.scene_size[1]}"
    )
    photos, labels = scene_tensors(options.seeds, options.scene_size, config.input_size)
    weights = class_weights(labels, config.label_nc)
    say(f"scenes ready in {time.monotonic() - started:.0f} s")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = Segmenter(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=options.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (1 - step / options.iterations) ** 0.9
    )
    batch = min(options.batch, len(options.seeds))
    started = time.monotonic()
    for iteration in range(1, options.iterations + 1):
        pick = torch.from_numpy(rng.choice(len(photos), batch, replace=False))
        x, y = photos[pick], labels[pick]
        flip = torch.from_numpy(rng.random(batch) < 0.5)
        x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
        loss = F.cross_entropy(model(x), y, weight=weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if iteration % 25 == 0 or iteration == options.iterations:
            elapsed = time.monotonic() - started
            left = elapsed / iteration * (options.iterations - iteration)
            say(
                f"iteration {iteration}/{options.iterations}  loss {loss.item():.4f}  "
                f"{elapsed:.0f} s, about {left:.0f} s left"
            )
    return model.eval()


def score_on_photos(
    model: Segmenter, seeds: range, scene_size: tuple[int, int]
) -> SegmentationScore:
    """The segmenter's score on the synthetic photos of `seeds` themselves: the oracle."""
    confusion = np.zeros((NUM_LABELS, NUM_LABELS), np.int64)
    for seed in seeds:
        scene = synthetic_scene(seed, *scene_size)
        predicted = model.predict(torch.from_numpy(scene.image)[None])[0].numpy()
        confusion += confusion_matrix(scene.labels, predicted, NUM_LABELS)
    return segmentation_score(confusion)
