# SPDX-License-Identifier: Apache-2.0
"""How a render's batch goes through the generator: which maps run together (map_parts),
and the one result the parts are written into."""

from __future__ import annotations

from typing import Any

import torch

from p2phd import ops
from p2phd.runtime.inputs import ArrayLike
from p2phd.runtime.map_feeds import Maps
from p2phd.runtime.opening import Backend


def map_parts(n: int, backend: Backend, fixed_shape: tuple[int, int, int] | None) -> list[slice]:
    """The slices of the batch that go through the generator together: on a CPU one map
    at a time (PyTorch's, onnxruntime's and OpenVINO's CPU kernels may pick their
    algorithm and the order of their sums by batch size), except on a backend whose
    floats for a map are the same in any batch (`batch_exact`: the torch backend, all in
    oneDNN); elsewhere, and for an artifact of fixed batch size, the whole batch."""
    # getattr: a backend that does not say is taken not to be batch-exact.
    batch_exact = getattr(backend, "batch_exact", False)
    if backend.device.type == "cpu" and fixed_shape is None and not batch_exact:
        return [slice(i, i + 1) for i in range(n)]
    return [slice(0, n)]


def render_maps_in_parts(
    backend: Backend, maps: tuple[torch.Tensor | None, ...], parts: list[slice]
) -> torch.Tensor:
    """The backend's render_maps (the uint8 images of a graph with its preprocessing) on
    each part of the batch, joined in order."""
    results = [backend.render_maps(Maps(*[m if m is None else m[p] for m in maps])) for p in parts]
    return results[0] if len(results) == 1 else torch.cat(results)


def generate_in_parts(
    backend: Backend,
    generator_input: torch.Tensor,
    size: tuple[int, int],
    output: str,
    rounding: str,
    parts: list[slice],
    stage: Any,
) -> torch.Tensor:
    """The generator on each part of the batch, every image cropped to `size` (H, W) and
    written into its slice of one N x 3 x H x W float32 or N x H x W x 3 uint8 result."""
    n = generator_input.shape[0]
    height, width = size
    if output == "float":
        result = torch.empty(n, 3, height, width, device=backend.device)
    else:
        result = torch.empty(n, height, width, 3, dtype=torch.uint8, device=backend.device)
    for part in parts:
        with stage("generator"):
            generated = backend.generate(generator_input[part])
        with stage("postprocess"):
            generated = generated[:, :, :height, :width]
            # A copy either way: the backend may reuse the memory of `generated`.
            if output == "float":
                result[part].copy_(generated)
            else:
                ops.to_uint8_image(generated, rounding=rounding, out=result[part])
    return result


def deliver(
    result: torch.Tensor, single: bool, returns_numpy: bool, home: torch.device
) -> ArrayLike:
    """The result as the caller gave the maps: one image for one map, numpy for numpy, else
    a tensor on the maps' device."""
    if single:
        result = result[0]
    return result.cpu().numpy() if returns_numpy else result.to(home)
