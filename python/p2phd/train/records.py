# SPDX-License-Identifier: Apache-2.0
"""What a training run leaves to look at: loss_log.csv, the loss lines, and sample PNGs of
label | generated | real."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2phd import ops
from p2phd.data.synthetic import CITYSCAPES_PALETTE
from p2phd.image_io import write_png
from p2phd.line_log import append_line, open_line_log

from .step import LOSS_NAMES

CSV_FIELDS = (
    "epoch",
    "epoch_iter",
    "iteration",
    "total_steps",
    "lr",
    "sec_per_iter",
    *LOSS_NAMES,
    "G_L1",
)


def append_csv_row(path: Path, row: dict[str, float]) -> None:
    """One row of CSV_FIELDS, with the header when the file is new (or holds no whole line),
    written whole or not at all (line_log): a stopped run leaves whole rows only."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS, lineterminator="\n")
    with open_line_log(path) as log:
        if os.fstat(log.fileno()).st_size == 0:
            writer.writeheader()
        writer.writerow({k: (f"{v:.9g}" if isinstance(v, float) else v) for k, v in row.items()})
        append_line(log, text.getvalue().removesuffix("\n"))


def loss_line(epoch: int, epoch_iter: int, iteration: int, seconds: float, losses: dict) -> str:
    text = " ".join(f"{k}: {losses[k]:.3f}" for k in (*LOSS_NAMES, "G_L1"))
    return f"(epoch: {epoch}, iters: {epoch_iter}, it: {iteration}, time: {seconds:.3f}) {text}"


def palette(n: int) -> np.ndarray:
    """The Cityscapes colours, then fixed random ones for further labels."""
    colours = np.zeros((max(n, 1), 3), np.uint8)
    known = min(n, len(CITYSCAPES_PALETTE))
    colours[:known] = CITYSCAPES_PALETTE[:known]
    rng = np.random.default_rng(12345)
    if n > known:
        colours[known:] = rng.integers(0, 256, (n - known, 3))
    return colours


def write_sample(path: Path, batch: dict[str, Any], fake: torch.Tensor, label_nc: int) -> Path:
    """label | generated | real of the batch's first image, as one PNG."""
    labels = batch["label"][0].numpy().astype(np.int64)
    colour = palette(label_nc)[np.clip(labels, 0, label_nc - 1)]
    images = torch.stack([fake[0].float().cpu(), batch["image"][0].float()])
    generated, real = ops.to_uint8_image(images.contiguous())
    grid = np.concatenate([colour, generated, real], axis=1)
    write_png(path, grid)
    return path
