# SPDX-License-Identifier: Apache-2.0
"""pix2pixHD generators: `GlobalGenerator` (G1) and `LocalEnhancer` (G1 + G2 ... Gn).

Module order, and therefore every state-dict key, is that of the public pix2pixHD code
(models/networks.py), so its `latest_net_G.pth` loads with `load_state_dict(strict=True)`.
Do not reorder, rename or merge layers here: the index of each layer is part of the file format.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import GeneratorConfig


def norm_layer(channels: int) -> nn.Module:
    # Instance norm without affine parameters and without running stats: the public default
    # (`--norm instance`), and why these layers have no state-dict entries.
    return nn.InstanceNorm2d(channels, affine=False)


def make_pyramid_downsample() -> nn.AvgPool2d:
    # Padding pixels are not averaged in, so the border of the coarser input is not darkened.
    return nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)


class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, ReLU, pad, conv3x3, norm)(x); keys `conv_block.{1,5}.*`."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0),
            norm_layer(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0),
            norm_layer(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def global_generator_layers(
    input_nc: int, output_nc: int, ngf: int, n_downsampling: int, n_blocks: int
) -> list[nn.Module]:
    """c7s1-ngf, d x n_downsampling, R x n_blocks, u x n_downsampling, c7s1-output_nc, tanh:
    G1's layers, and with n_blocks = 0 those of the feature encoder E (the same indices)."""
    layers: list[nn.Module] = [
        nn.ReflectionPad2d(3),
        nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0),
        norm_layer(ngf),
        nn.ReLU(True),
    ]
    for i in range(n_downsampling):
        mult = 2**i
        layers += [
            nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1),
            norm_layer(ngf * mult * 2),
            nn.ReLU(True),
        ]
    mult = 2**n_downsampling
    layers += [ResnetBlock(ngf * mult) for _ in range(n_blocks)]
    for i in range(n_downsampling):
        mult = 2 ** (n_downsampling - i)
        layers += [
            nn.ConvTranspose2d(
                ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1, output_padding=1
            ),
            norm_layer(ngf * mult // 2),
            nn.ReLU(True),
        ]
    layers += [
        nn.ReflectionPad2d(3),
        nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0),
        nn.Tanh(),
    ]
    return layers


def _global_sizes(config: GeneratorConfig) -> tuple[int, int, int, int, int]:
    """G1's arguments (input_nc, output_nc, ngf, n_downsampling, n_blocks) from `config`: all
    of GlobalGenerator's, and the first of LocalEnhancer's."""
    return (
        config.input_nc,
        config.output_nc,
        config.ngf,
        config.n_downsample_global,
        config.n_blocks_global,
    )


class GlobalGenerator(nn.Module):
    """The global generator G1; all layers live in `self.model` (keys `model.<index>.*`)."""

    # No defaults: those of a generator are GeneratorConfig's (from_config).
    def __init__(
        self, input_nc: int, output_nc: int, ngf: int, n_downsampling: int, n_blocks: int
    ) -> None:
        super().__init__()
        if n_blocks < 0 or n_downsampling < 0:
            raise ValueError("n_blocks and n_downsampling must be >= 0")
        self.model = nn.Sequential(
            *global_generator_layers(input_nc, output_nc, ngf, n_downsampling, n_blocks)
        )

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> GlobalGenerator:
        return cls(*_global_sizes(config))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    """G1 at the coarsest scale plus `n_local_enhancers` enhancers, each doubling resolution.

    `model` is G1 (with 2**n_local_enhancers * ngf filters) minus its final pad/conv/tanh;
    enhancer n (1 = coarsest) is `model{n}_1` (front end on the input at its scale) and
    `model{n}_2` (residual blocks + upsampling, whose input is front end + previous output).
    Only the last enhancer ends in the c7s1-output_nc + tanh layers.
    """

    # No defaults: those of a generator are GeneratorConfig's (from_config).
    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int,
        n_downsample_global: int,
        n_blocks_global: int,
        n_local_enhancers: int,
        n_blocks_local: int,
    ) -> None:
        super().__init__()
        if n_local_enhancers < 1:
            raise ValueError(f"LocalEnhancer needs n_local_enhancers >= 1, got {n_local_enhancers}")
        self.n_local_enhancers = n_local_enhancers
        ngf_global = ngf * 2**n_local_enhancers
        layers = global_generator_layers(
            input_nc, output_nc, ngf_global, n_downsample_global, n_blocks_global
        )
        self.model = nn.Sequential(*layers[:-3])  # drop G1's final pad, conv and tanh
        for n in range(1, n_local_enhancers + 1):
            nf = ngf * 2 ** (n_local_enhancers - n)
            front = [
                nn.ReflectionPad2d(3),
                nn.Conv2d(input_nc, nf, kernel_size=7, padding=0),
                norm_layer(nf),
                nn.ReLU(True),
                nn.Conv2d(nf, nf * 2, kernel_size=3, stride=2, padding=1),
                norm_layer(nf * 2),
                nn.ReLU(True),
            ]
            back: list[nn.Module] = [ResnetBlock(nf * 2) for _ in range(n_blocks_local)]
            back += [
                nn.ConvTranspose2d(
                    nf * 2, nf, kernel_size=3, stride=2, padding=1, output_padding=1
                ),
                norm_layer(nf),
                nn.ReLU(True),
            ]
            if n == n_local_enhancers:
                back += [
                    nn.ReflectionPad2d(3),
                    nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0),
                    nn.Tanh(),
                ]
            setattr(self, f"model{n}_1", nn.Sequential(*front))
            setattr(self, f"model{n}_2", nn.Sequential(*back))
        self.downsample = make_pyramid_downsample()

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> LocalEnhancer:
        return cls(*_global_sizes(config), config.n_local_enhancers, config.n_blocks_local)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            front = getattr(self, f"model{n}_1")
            back = getattr(self, f"model{n}_2")
            out = back(front(pyramid[self.n_local_enhancers - n]) + out)
        return out


Generator = GlobalGenerator | LocalEnhancer


def build_generator(config: GeneratorConfig) -> nn.Module:
    """The generator that `config` describes, with PyTorch's default initialisation."""
    if config.netG == "local":
        return LocalEnhancer.from_config(config)
    return GlobalGenerator.from_config(config)
