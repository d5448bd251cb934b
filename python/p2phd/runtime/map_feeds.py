# SPDX-License-Identifier: Apache-2.0
"""The inputs of an artifact exported with its preprocessing (p2phd-export --with-preprocess)."""

from __future__ import annotations

import torch


def map_feeds(
    input_names: list[str],
    labels: torch.Tensor,
    instances: torch.Tensor | None,
    features: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """labels (+ instances, + features, where the artifact takes them) by input name, in the
    dtypes the exporter declares: int32 maps, float32 features."""
    feeds = {"labels": labels.to(torch.int32)}
    if "instances" in input_names:
        feeds["instances"] = instances.to(torch.int32)
    if "features" in input_names:
        feeds["features"] = features.float()
    return feeds
