# SPDX-License-Identifier: Apache-2.0
"""Pure-torch reference of every op in `p2phd.ops`.

Slow and obvious on purpose: these functions define the semantics (../DESIGN.md) that the
native CPU and CUDA kernels must reproduce, and the tests compare against them. Inputs are
batched torch tensors (labels and instances N x H x W, features N x K x H x W).
"""

from __future__ import annotations

import torch


def one_hot(
    labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """N x H x W integer labels -> N x C x H x W, channel c is 1 where labels == c."""
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    channels = torch.arange(num_classes, device=labels.device).view(1, -1, 1, 1)
    return (labels.unsqueeze(1) == channels).to(dtype)


def instance_edges(instances: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """N x H x W ids -> N x 1 x H x W, 1 where a 4-neighbour inside the image has another id."""
    ids = instances.long()
    edge = torch.zeros_like(ids, dtype=torch.bool)
    horizontal = ids[:, :, 1:] != ids[:, :, :-1]
    vertical = ids[:, 1:, :] != ids[:, :-1, :]
    edge[:, :, 1:] |= horizontal
    edge[:, :, :-1] |= horizontal
    edge[:, 1:, :] |= vertical
    edge[:, :-1, :] |= vertical
    return edge.unsqueeze(1).to(dtype)


def instance_mean(features: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
    """Replace every pixel's features by the mean over its instance (per image), in float64."""
    n, k, h, w = features.shape
    out = torch.empty_like(features)
    for b in range(n):
        ids, inverse = torch.unique(instances[b].long().flatten(), return_inverse=True)
        flat = features[b].reshape(k, h * w).double()
        sums = torch.zeros(k, ids.numel(), dtype=torch.float64, device=features.device)
        sums.index_add_(1, inverse, flat)
        counts = torch.bincount(inverse, minlength=ids.numel()).double()
        out[b] = (sums / counts)[:, inverse].reshape(k, h, w).to(features.dtype)
    return out


def instance_broadcast(
    instances: torch.Tensor, ids: torch.Tensor, table: torch.Tensor
) -> torch.Tensor:
    """Pixel of instance ids[j] gets table[j] (M x K); pixels of unlisted ids get zeros."""
    n, h, w = instances.shape
    k = table.shape[1]
    ids = ids.long().to(instances.device)
    if ids.unique().numel() != ids.numel():
        raise ValueError("ids must not repeat")
    flat = instances.long().reshape(-1)
    if ids.numel() == 0:
        return torch.zeros(n, k, h, w, dtype=table.dtype, device=table.device)
    sorted_ids, order = ids.sort()
    position = torch.searchsorted(sorted_ids, flat).clamp(max=ids.numel() - 1)
    found = sorted_ids[position] == flat
    rows = table[order[position]]
    pixels = torch.where(found.unsqueeze(1), rows, torch.zeros_like(rows))
    return pixels.reshape(n, h, w, k).permute(0, 3, 1, 2).contiguous()


def generator_input(
    labels: torch.Tensor,
    instances: torch.Tensor | None,
    label_nc: int,
    *,
    features: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The generator's input: one-hot (label_nc) + edges (if instances) + features (if given)."""
    parts = [one_hot(labels, label_nc, dtype)]
    if instances is not None:
        parts.append(instance_edges(instances, dtype))
    if features is not None:
        parts.append(features.to(dtype))
    return torch.cat(parts, dim=1)


def to_uint8_image(y: torch.Tensor, rounding: str = "nearest") -> torch.Tensor:
    """N x 3 x H x W in [-1, 1] -> N x H x W x 3 uint8, round(clamp((y+1)/2, 0, 1) * 255).

    NaN maps to 0; rounding is half to even. rounding="public": the public code's
    uint8(clip((y + 1) / 2 * 255, 0, 255)), truncated, in float32.
    """
    if rounding == "public":
        scaled = torch.nan_to_num((y.float() + 1) / 2 * 255, nan=0.0).clamp(0, 255)
        return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    t = (y.float() + 1) / 2
    t = torch.nan_to_num(t, nan=0.0).clamp(0, 1)
    return torch.round(t * 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def label_conv(
    labels: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    label_nc: int,
    *,
    edges: torch.Tensor | None = None,
    features: torch.Tensor | None = None,
    pool: bool = False,
) -> torch.Tensor:
    """conv2d of the reflection-padded (k // 2) one-hot + edges + features input, in float32:
    the generator's first layer. weight is C_out x C_in x k x k. With `pool` the input is
    first average-pooled as pix2pixHD's pyramid does (3 x 3, stride 2, padding 1 uncounted)."""
    parts = [one_hot(labels, label_nc)]
    parts += [t.float() for t in (edges, features) if t is not None]
    x = torch.cat(parts, dim=1)
    if pool:
        x = torch.nn.functional.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    pad = weight.shape[-1] // 2
    x = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    return torch.nn.functional.conv2d(x, weight.float(), bias.float())


def instance_norm(
    x: torch.Tensor,
    *,
    relu: bool = False,
    residual: torch.Tensor | None = None,
    pad: int = 0,
    residual_pad: int = 0,
    eps: float = 1e-5,
) -> torch.Tensor:
    """N x C x H x W -> instance-normalized (no affine), then ReLU if asked, then plus the
    interior of `residual` (stored padded by residual_pad), then reflection-padded by pad;
    computed in float32, returned in x's dtype."""
    y = torch.nn.functional.instance_norm(x.float(), eps=eps)
    if relu:
        y = torch.relu(y)
    if residual is not None:
        h, w = x.shape[-2:]
        y = y + residual[..., residual_pad : residual_pad + h, residual_pad : residual_pad + w]
    if pad:
        y = torch.nn.functional.pad(y, (pad, pad, pad, pad), mode="reflect")
    return y.to(x.dtype)


def output_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """N x C_in x H x W (already padded) -> valid conv2d, tanh, then to_uint8_image: the
    generator's last layer as an N x (H - k + 1) x (W - k + 1) x C_out uint8 image."""
    y = torch.nn.functional.conv2d(x.float(), weight.float(), bias.float())
    return to_uint8_image(torch.tanh(y))
