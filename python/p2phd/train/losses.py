# SPDX-License-Identifier: Apache-2.0
"""pix2pixHD losses: GAN (least squares or vanilla) over multi-scale discriminators,
discriminator feature matching and the VGG19 perceptual loss (Wang et al. 2018, Eq. 4)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

Predictions = Sequence[Sequence[torch.Tensor]]  # per scale: intermediate features..., output


class GANLoss(nn.Module):
    """Sum over discriminator scales of the loss of each scale's last output.

    LSGAN: mean squared error to 1 (real) or 0 (fake). Vanilla: binary cross-entropy; the
    discriminator ends without a sigmoid and the loss takes logits (the same function as the
    public sigmoid + BCELoss, stable and autocast-safe).
    """

    def __init__(self, use_lsgan: bool = True) -> None:
        super().__init__()
        self.use_lsgan = use_lsgan

    def forward(self, predictions: Predictions, target_is_real: bool) -> torch.Tensor:
        total = None
        for scale in predictions:
            pred = scale[-1].float()
            target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
            if self.use_lsgan:
                loss = F.mse_loss(pred, target)
            else:
                loss = F.binary_cross_entropy_with_logits(pred, target)
            total = loss if total is None else total + loss
        assert total is not None, "no discriminator outputs"
        return total


def feature_matching_loss(
    pred_fake: Predictions, pred_real: Predictions, n_layers_d: int, lambda_feat: float
) -> torch.Tensor:
    """Public `loss_G_GAN_Feat`: L1 between D's intermediate features of fake and real,
    weighted 4 / (n_layers_D + 1) per layer and 1 / num_D per scale, times lambda_feat."""
    feat_weight = 4.0 / (n_layers_d + 1)
    d_weight = 1.0 / len(pred_fake)
    total = pred_fake[0][0].new_zeros((), dtype=torch.float32)
    for fake_scale, real_scale in zip(pred_fake, pred_real, strict=True):
        for fake, real in zip(fake_scale[:-1], real_scale[:-1], strict=True):
            total = total + d_weight * feat_weight * lambda_feat * F.l1_loss(
                fake.float(), real.detach().float()
            )
    return total


# VGG19 `features` up to relu5_1; indices as in torchvision, so its state dicts load.
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 end after these layer indices (exclusive ends).
_SLICE_ENDS = (2, 7, 12, 21, 30)


class VGG19Features(nn.Module):
    """torchvision's vgg19().features[:30] with the same keys (`features.<i>.weight`), frozen."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in _VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers[: _SLICE_ENDS[-1]])
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        start = 0
        for end in _SLICE_ENDS:
            for layer in self.features[start:end]:
                x = layer(x)
            outputs.append(x)
            start = end
        return outputs


def load_vgg19(path: str | os.PathLike[str] | None) -> VGG19Features:
    """VGG19 features with weights from a local file: a torchvision `vgg19` state dict
    (`features.<i>.*`, classifier ignored) or a features-only one (`<i>.*`). Nothing is
    downloaded; without a file this fails and says how to go on."""
    if not path:
        raise ValueError(
            "the VGG perceptual loss needs VGG19 weights: pass --vgg_weights PATH (a torchvision "
            "vgg19 state dict such as vgg19-dcbb9e9d.pth) or turn the loss off with --no_vgg_loss"
        )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--vgg_weights {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable PyTorch weights file: {exc}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"{path}: does not hold a state dict")
    if any(k.startswith("features.") for k in state):
        state = {k: v for k, v in state.items() if k.startswith("features.")}
    else:
        state = {f"features.{k}": v for k, v in state.items()}
    model = VGG19Features()
    wanted = model.state_dict()
    state = {k: v for k, v in state.items() if k in wanted}  # layers past relu5_1 are unused
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ValueError(f"{path}: not VGG19 weights; missing {missing[:3]}")
    for key, value in state.items():
        if tuple(value.shape) != tuple(wanted[key].shape):
            raise ValueError(
                f"{path}: {key} has shape {list(value.shape)}, VGG19 has {list(wanted[key].shape)}"
            )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model


class VGGLoss(nn.Module):
    """Public `VGGLoss`: sum of weighted L1 distances between VGG19 relu1_1..relu5_1 features
    of the generated and the real image (both given in [-1, 1], as the public code does)."""

    weights = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, vgg: VGG19Features) -> None:
        super().__init__()
        self.vgg = vgg

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_feats = self.vgg(x)
        with torch.no_grad():
            y_feats = self.vgg(y)
        total = x.new_zeros((), dtype=torch.float32)
        for w, a, b in zip(self.weights, x_feats, y_feats, strict=True):
            total = total + w * F.l1_loss(a.float(), b.float())
        return total
