# SPDX-License-Identifier: Apache-2.0
"""Every FP32 (and BF16) convolution of a CPU generator through oneDNN, whatever the batch
or map size.

PyTorch's CPU convolution picks its algorithm per call: oneDNN for most shapes, but for one
small input (N = 1 and at most 20480 values, unless the kernel is over 3 x 3) its own im2col /
col2im loops around MKL's sgemm. The two sum in other orders (up to 1e-6 apart on the demo
model at 64 x 128), so a map's floats depended on its batch; and MKL, which adjusts its thread
count at run time by default (MKL_DYNAMIC), does not promise the same bytes from run to run.
oneDNN splits a convolution by a thread count fixed when the call starts, never across the
sum of one output, so its bytes are the same in every call and process and on 1 or 2 threads.
The oneDNN calls here are the ones PyTorch itself makes for the shapes it sends to oneDNN
(and for every BF16 convolution, where oneDNN runs BF16): those layers give the very same
bytes as before.
"""

from __future__ import annotations

import torch
from torch import nn


def onednn_available(precision: str = "fp32") -> bool:
    """Whether this torch build has the oneDNN convolution ops (x86 and most CPU builds) and,
    for "bf16", this CPU runs oneDNN's BF16 convolutions (as PyTorch itself checks)."""
    if precision not in ("fp32", "bf16") or not torch.backends.mkldnn.is_available():
        return False
    try:
        torch.ops.mkldnn._convolution_pointwise  # noqa: B018 - raises where the op is missing
        torch.ops.mkldnn._convolution_transpose_pointwise  # noqa: B018
        return precision == "fp32" or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class _OneDnnConvolution(nn.Module):
    """A convolution module computed by oneDNN: it holds the module (so shares its parameters,
    under `conv.*`) and only replaces its forward."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d) -> None:
        super().__init__()
        self.conv = conv


class OneDnnConv2d(_OneDnnConvolution):
    """An nn.Conv2d (zero padding) computed by oneDNN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return torch.ops.mkldnn._convolution_pointwise(
            x.contiguous(), c.weight, c.bias, c.padding, c.stride, c.dilation, c.groups,
            "none", [], "",
        )  # fmt: skip


class OneDnnConvTranspose2d(_OneDnnConvolution):
    """An nn.ConvTranspose2d computed by oneDNN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return torch.ops.mkldnn._convolution_transpose_pointwise(
            x.contiguous(), c.weight, c.bias, c.padding, c.output_padding, c.stride,
            c.dilation, c.groups, "none", [], "",
        )  # fmt: skip


def route_convolutions_to_onednn(module: nn.Module) -> int:
    """Replaces, in place, every zero-padded 2-D convolution inside `module` by its oneDNN
    twin; returns how many. Other modules stay as they are."""
    replaced = 0
    for name, child in module.named_children():
        if type(child) is nn.Conv2d and child.padding_mode == "zeros":
            if not isinstance(child.padding, str):  # "same" / "valid" stay with PyTorch
                setattr(module, name, OneDnnConv2d(child))
                replaced += 1
        elif type(child) is nn.ConvTranspose2d:
            setattr(module, name, OneDnnConvTranspose2d(child))
            replaced += 1
        else:
            replaced += route_convolutions_to_onednn(child)
    return replaced
