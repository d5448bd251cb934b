# SPDX-License-Identifier: Apache-2.0
"""A small semantic segmentation network (photo -> label map): the judge of `p2phd-bench
quality`, standing in for the PSPNet that pix2pixHD's Table 1 runs on its renders.

An encoder-decoder with skip connections: three stride-2 stages down to 1/8 resolution,
dilated convolutions there for context, and bilinear upsampling back with the skips; about
0.4 M parameters, small enough to train on a 2-core CPU (tools/train_segmenter.py). It sees
photos at one fixed size (`SegmenterConfig.input_size`); `Segmenter.predict` resizes any
photo to it and the class scores back to the photo's size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SegmenterConfig:
    """`label_nc` classes (Cityscapes labelIds by default), channel widths of the full, 1/2,
    1/4 and 1/8 resolution stages, and the H x W at which it sees a photo."""

    label_nc: int = 35
    widths: tuple[int, int, int, int] = (16, 32, 64, 96)
    input_size: tuple[int, int] = (128, 256)

    def __post_init__(self) -> None:
        if isinstance(self.label_nc, bool) or not isinstance(self.label_nc, int):
            raise ValueError(f"SegmenterConfig.label_nc must be an int, got {self.label_nc!r}")
        if self.label_nc < 2:
            raise ValueError(f"SegmenterConfig.label_nc must be at least 2, got {self.label_nc}")
        for name, count in (("widths", 4), ("input_size", 2)):
            value = tuple(getattr(self, name))
            if len(value) != count or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
            ):
                raise ValueError(
                    f"SegmenterConfig.{name} must be {count} positive ints, got {value!r}"
                )
            object.__setattr__(self, name, value)
        height, width = self.input_size
        if height % 8 or width % 8:
            raise ValueError(
                f"SegmenterConfig.input_size must be a multiple of 8, got {height}x{width}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmenterConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown SegmenterConfig fields: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _conv(in_nc: int, out_nc: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_nc, out_nc, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_nc),
        nn.ReLU(inplace=True),
    )


class Segmenter(nn.Module):
    """Photos in [-1, 1], N x 3 x H x W (H, W multiples of 8) -> class scores, N x label_nc
    x H x W."""

    def __init__(self, config: SegmenterConfig) -> None:
        super().__init__()
        self.config = config
        w1, w2, w4, w8 = config.widths
        self.enc_full = _conv(3, w1)
        self.enc_half = nn.Sequential(_conv(w1, w2, stride=2), _conv(w2, w2))
        self.enc_quarter = nn.Sequential(_conv(w2, w4, stride=2), _conv(w4, w4))
        # Dilations 2 and 4 at 1/8 give the deepest features a view of ~1/3 of a 128x256 photo.
        self.enc_eighth = nn.Sequential(
            _conv(w4, w8, stride=2), _conv(w8, w8, dilation=2), _conv(w8, w8, dilation=4)
        )
        self.dec_quarter = _conv(w8 + w4, w4)
        self.dec_half = _conv(w4 + w2, w2)
        # Full resolution only sharpens the boundaries: a 1x1 fusion is enough and cheap.
        self.dec_full = nn.Sequential(
            nn.Conv2d(w2 + w1, w1, 1, bias=False), nn.BatchNorm2d(w1), nn.ReLU(inplace=True)
        )
        self.classify = nn.Conv2d(w1, config.label_nc, 1)

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        full = self.enc_full(photo)
        half = self.enc_half(full)
        quarter = self.enc_quarter(half)
        x = self.enc_eighth(quarter)
        for skip, fuse in (
            (quarter, self.dec_quarter),
            (half, self.dec_half),
            (full, self.dec_full),
        ):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = fuse(torch.cat([x, skip], 1))
        return self.classify(x)

    @torch.inference_mode()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 photos N x H x W x 3 (any size) -> int64 label maps N x H x W: the photo
        resized to `input_size` (antialiased bilinear), the class scores resized back."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"images must be uint8 N x H x W x 3, got {images.dtype} {tuple(images.shape)}"
            )
        size = images.shape[1:3]
        device = next(self.parameters()).device
        photo = images.to(device).permute(0, 3, 1, 2).float() / 127.5 - 1
        photo = resize_photo(photo, self.config.input_size)
        scores = self(photo)
        scores = F.interpolate(scores, size=size, mode="bilinear", align_corners=False)
        return scores.argmax(1)


def resize_photo(photo: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N x 3 x H x W float photos to `size`, the way the segmenter sees them in training and
    in evaluation alike (antialiased bilinear: an area average when shrinking by 2)."""
    if tuple(photo.shape[-2:]) == tuple(size):
        return photo
    return F.interpolate(photo, size=size, mode="bilinear", align_corners=False, antialias=True)
