# SPDX-License-Identifier: Apache-2.0
"""One training iteration's losses and updates, as in the public Pix2PixHDModel: D sees
(label, fake) and (label, real) in one batched pass; the generator loss (GAN + feature
matching + VGG) updates G (and E), then the discriminator loss updates D, all from the
same forward pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from p2phd import ops

from .losses import GANLoss, VGGLoss, feature_matching_loss
from .options import TrainOptions

LOSS_NAMES = ("G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake")


@dataclass
class Losses:
    G_GAN: torch.Tensor
    G_GAN_Feat: torch.Tensor
    G_VGG: torch.Tensor
    D_real: torch.Tensor
    D_fake: torch.Tensor

    def generator(self) -> torch.Tensor:
        return self.G_GAN + self.G_GAN_Feat + self.G_VGG

    def discriminator(self) -> torch.Tensor:
        return (self.D_fake + self.D_real) * 0.5


def encode_input(
    batch: dict[str, Any],
    device: torch.device,
    *,
    ops_on_device: bool,
    use_instance: bool,
    label_nc: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One-hot labels + instance edges (N x C x H x W float32) and the instance map."""
    where = device if ops_on_device else torch.device("cpu")
    labels = batch["label"].to(where, non_blocking=True)
    instances = batch["inst"].to(where, non_blocking=True) if "inst" in batch else None
    input_label = ops.generator_input(labels, instances if use_instance else None, label_nc)
    if instances is not None:
        instances = instances.to(device)
    return input_label.to(device), instances


def generator_input(
    opts: TrainOptions,
    batch: dict[str, Any],
    input_label: torch.Tensor,
    instances: torch.Tensor | None,
    real: torch.Tensor,
    train_e: nn.Module | None,
) -> torch.Tensor:
    """What G renders from: the encoded labels, and the instance features for --instance_feat
    (precomputed ones of --load_features, or the encoder's of the real image)."""
    if not opts.use_features:
        return input_label
    if opts.load_features:
        feat = batch["feat"].to(input_label.device)
    else:
        assert train_e is not None and instances is not None
        feat = train_e(real, instances)
    return torch.cat([input_label, feat.to(input_label.dtype)], dim=1)


def gan_losses(
    opts: TrainOptions,
    *,
    train_d: nn.Module,
    net_d: nn.Module,
    gan_loss: GANLoss,
    vgg_loss: VGGLoss | None,
    input_label: torch.Tensor,
    fake: torch.Tensor,
    real: torch.Tensor,
) -> Losses:
    """The losses of G's output `fake`; `train_d` is D as trained (DDP or not), `net_d` D."""
    n = fake.shape[0]
    fake_d = torch.cat([input_label, fake.detach().to(input_label.dtype)], dim=1)
    real_d = torch.cat([input_label, real], dim=1)
    both = train_d(torch.cat([fake_d, real_d], dim=0))
    pred_fake_pool = [[t[:n] for t in scale] for scale in both]
    pred_real = [[t[n:] for t in scale] for scale in both]
    loss_d_fake = gan_loss(pred_fake_pool, False)
    loss_d_real = gan_loss(pred_real, True)
    # G's adversarial pass: gradients to the fake only, none collected for D.
    net_d.requires_grad_(False)
    try:
        pred_fake = net_d(torch.cat([input_label, fake.to(input_label.dtype)], dim=1))
    finally:
        net_d.requires_grad_(True)
    loss_g_gan = gan_loss(pred_fake, True)
    zero = real.new_zeros((), dtype=torch.float32)
    loss_g_feat = zero
    if not opts.no_ganFeat_loss:
        loss_g_feat = feature_matching_loss(pred_fake, pred_real, opts.n_layers_D, opts.lambda_feat)
    loss_g_vgg = zero
    if vgg_loss is not None:
        loss_g_vgg = vgg_loss(fake, real) * opts.lambda_feat
    return Losses(loss_g_gan, loss_g_feat, loss_g_vgg, loss_d_real, loss_d_fake)


def update(
    losses: Losses,
    scaler: torch.amp.GradScaler,
    optimizer_g: torch.optim.Optimizer,
    optimizer_d: torch.optim.Optimizer,
) -> None:
    """The generator update, then the discriminator update."""
    loss_g = losses.generator()
    loss_d = losses.discriminator()
    optimizer_g.zero_grad(set_to_none=True)
    scaler.scale(loss_g).backward()
    scaler.step(optimizer_g)
    optimizer_d.zero_grad(set_to_none=True)
    scaler.scale(loss_d).backward()
    scaler.step(optimizer_d)
    scaler.update()


def loss_values(losses: Losses, fake: torch.Tensor, real: torch.Tensor) -> dict[str, float]:
    """{name: value} of LOSS_NAMES, and G_L1: the L1 distance of fake and real."""
    with torch.no_grad():
        l1 = F.l1_loss(fake.detach().float(), real)
    values = [getattr(losses, name) for name in LOSS_NAMES] + [l1]
    numbers = torch.stack([v.detach().float() for v in values]).cpu().tolist()
    return dict(zip((*LOSS_NAMES, "G_L1"), numbers, strict=True))
