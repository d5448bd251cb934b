# SPDX-License-Identifier: Apache-2.0
"""pix2pixHD discriminators: PatchGAN `NLayerDiscriminator` and `MultiscaleDiscriminator`.

Keys as in the public code: `model.*` (or `model0..model{n_layers+1}` with intermediate
features) per discriminator; `layer{i}.*` or `scale{i}_layer{j}.*` in the multiscale wrapper.
"""

from __future__ import annotations

import torch
from torch import nn

from .generator import make_pyramid_downsample, norm_layer


def _stages(input_nc: int, ndf: int, n_layers: int, use_sigmoid: bool) -> list[list[nn.Module]]:
    kw, padw = 4, 2  # padw = ceil((kw - 1) / 2), as in the public code
    stages: list[list[nn.Module]] = [
        [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
    ]
    nf = ndf
    for _ in range(1, n_layers):
        nf_prev, nf = nf, min(nf * 2, 512)
        stages.append(
            [
                nn.Conv2d(nf_prev, nf, kernel_size=kw, stride=2, padding=padw),
                norm_layer(nf),
                nn.LeakyReLU(0.2, True),
            ]
        )
    nf_prev, nf = nf, min(nf * 2, 512)
    stages.append(
        [
            nn.Conv2d(nf_prev, nf, kernel_size=kw, stride=1, padding=padw),
            norm_layer(nf),
            nn.LeakyReLU(0.2, True),
        ]
    )
    stages.append([nn.Conv2d(nf, 1, kernel_size=kw, stride=1, padding=padw)])
    if use_sigmoid:
        stages.append([nn.Sigmoid()])
    return stages


class NLayerDiscriminator(nn.Module):
    """PatchGAN. With `get_interm_feat` it returns every stage's output (for feature matching).

    The building block of MultiscaleDiscriminator, which holds the defaults."""

    def __init__(
        self, input_nc: int, ndf: int, n_layers: int, use_sigmoid: bool, get_interm_feat: bool
    ) -> None:
        super().__init__()
        self.get_interm_feat = get_interm_feat
        self.n_layers = n_layers
        stages = _stages(input_nc, ndf, n_layers, use_sigmoid)
        if get_interm_feat:
            # Public quirk kept: forward walks n_layers + 2 stages, so a sigmoid stage
            # (use_sigmoid) is registered but not applied.
            for n, stage in enumerate(stages):
                setattr(self, f"model{n}", nn.Sequential(*stage))
        else:
            self.model = nn.Sequential(*[m for stage in stages for m in stage])

    def stages(self) -> list[nn.Module]:
        return [getattr(self, f"model{n}") for n in range(self.n_layers + 2)]

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if not self.get_interm_feat:
            return self.model(x)
        outputs = []
        for stage in self.stages():
            x = stage(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    """`num_d` PatchGANs on the input and its 2x, 4x ... average-pooled versions.

    forward returns one list per scale, finest first; each list holds the intermediate
    features then the prediction (get_interm_feat) or just the prediction.
    """

    def __init__(
        self,
        input_nc: int,
        ndf: int = 64,
        n_layers: int = 3,
        use_sigmoid: bool = False,
        num_d: int = 3,
        get_interm_feat: bool = False,
    ) -> None:
        super().__init__()
        self.num_d = num_d
        self.n_layers = n_layers
        self.get_interm_feat = get_interm_feat
        for i in range(num_d):
            net = NLayerDiscriminator(input_nc, ndf, n_layers, use_sigmoid, get_interm_feat)
            # Registered by the public names; the NLayerDiscriminator wrapper itself is dropped.
            if get_interm_feat:
                for j in range(n_layers + 2):
                    setattr(self, f"scale{i}_layer{j}", getattr(net, f"model{j}"))
            else:
                setattr(self, f"layer{i}", net.model)
        self.downsample = make_pyramid_downsample()

    def _scale(self, i: int) -> list[nn.Module]:
        if self.get_interm_feat:
            return [getattr(self, f"scale{i}_layer{j}") for j in range(self.n_layers + 2)]
        return [getattr(self, f"layer{i}")]

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        results = []
        for i in range(self.num_d):
            # The last registered discriminator sees the full-resolution input (public order).
            outputs = []
            h = x
            for stage in self._scale(self.num_d - 1 - i):
                h = stage(h)
                outputs.append(h)
            results.append(outputs)
            if i != self.num_d - 1:
                x = self.downsample(x)
        return results
