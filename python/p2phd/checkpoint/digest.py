# SPDX-License-Identifier: Apache-2.0
"""The digest of a generator's weights, as exports record it and caches key converted models."""

from __future__ import annotations

import hashlib

import torch
from torch import nn


def weights_sha256(generator: nn.Module) -> str:
    """sha256 over the generator state dict: key, dtype, shape and bytes, in key order."""
    digest = hashlib.sha256()
    state = generator.state_dict()
    for key in sorted(state):
        value = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{value.dtype}|{list(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()
