# SPDX-License-Identifier: Apache-2.0
"""The training losses equal their closed forms on small tensors with known values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from p2phd.train.losses import GANLoss, VGGLoss, feature_matching_loss


def _scales(*outputs: list[float]) -> list[list[torch.Tensor]]:
    """Discriminator predictions: per scale one intermediate feature, then the given output."""
    return [[torch.zeros(1, 2, 2, 2), torch.tensor(o).view(1, 1, 1, -1)] for o in outputs]


def test_lsgan_is_the_squared_distance_to_the_target_summed_over_scales():
    predictions = _scales([0.0, 2.0], [0.5, 0.5, 0.5, 0.5])
    loss = GANLoss(use_lsgan=True)
    # real: mean((x - 1)^2) per scale = (1 + 1) / 2 + 0.25 = 1.25; fake: mean(x^2) = 2 + 0.25
    assert float(loss(predictions, True)) == pytest.approx(1.25)
    assert float(loss(predictions, False)) == pytest.approx(2.25)


def test_vanilla_gan_is_the_cross_entropy_of_the_logits():
    predictions = _scales([0.0, 2.0], [-1.0])
    loss = GANLoss(use_lsgan=False)

    def softplus(x: float) -> float:
        return math.log1p(math.exp(x))

    # -log(sigmoid(x)) = softplus(-x) for a real target, -log(1 - sigmoid(x)) = softplus(x)
    real = (softplus(0.0) + softplus(-2.0)) / 2 + softplus(1.0)
    fake = (softplus(0.0) + softplus(2.0)) / 2 + softplus(-1.0)
    assert float(loss(predictions, True)) == pytest.approx(real)
    assert float(loss(predictions, False)) == pytest.approx(fake)


def test_feature_matching_weights_each_layer_and_scale():
    # Two scales of two intermediate layers each; the last entry (D's output) is not matched.
    fake = [
        [torch.full((1, 2, 2, 2), 1.0), torch.full((1, 3, 1, 1), 2.0), torch.full((1, 1), 9.0)],
        [torch.full((1, 2, 2, 2), 0.0), torch.tensor([[[[1.0, -3.0]]]]), torch.full((1, 1), 9.0)],
    ]
    real = [
        [torch.full((1, 2, 2, 2), 0.5), torch.full((1, 3, 1, 1), 2.0), torch.full((1, 1), 0.0)],
        [torch.full((1, 2, 2, 2), 1.0), torch.tensor([[[[0.0, 0.0]]]]), torch.full((1, 1), 0.0)],
    ]
    n_layers_d, lambda_feat = 3, 10.0
    l1 = 0.5 + 0.0 + 1.0 + (1.0 + 3.0) / 2  # mean |fake - real| of each layer
    expected = 4.0 / (n_layers_d + 1) * (1.0 / 2) * lambda_feat * l1
    got = feature_matching_loss(fake, real, n_layers_d, lambda_feat)
    assert float(got) == pytest.approx(expected)
    # The real features are a target: no gradient flows into them.
    real_leaf = torch.ones(1, 2, 2, 2, requires_grad=True)
    fake_leaf = torch.zeros(1, 2, 2, 2, requires_grad=True)
    feature_matching_loss([[fake_leaf, fake_leaf]], [[real_leaf, real_leaf]], 1, 1.0).backward()
    assert real_leaf.grad is None and fake_leaf.grad is not None


class _ScaledCopies(nn.Module):
    """A stand-in for VGG19: five 'feature maps', the input times 1, 2, 3, 4, 5."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x * (k + 1) for k in range(5)]


def test_vgg_loss_weights_the_five_feature_levels():
    x = torch.tensor([[[[0.5, -0.5]]]])
    y = torch.tensor([[[[0.0, 0.5]]]])
    l1 = (0.5 + 1.0) / 2  # mean |x - y|; level k scales it by k + 1
    weights = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
    expected = sum(w * (k + 1) * l1 for k, w in enumerate(weights))
    assert float(VGGLoss(_ScaledCopies())(x, y)) == pytest.approx(expected)  # type: ignore[arg-type]
