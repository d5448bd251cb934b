# SPDX-License-Identifier: Apache-2.0
"""The maps every backend's render_maps takes, and the inputs they make for an artifact
exported with its preprocessing (p2phd-export --with-preprocess)."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Maps(NamedTuple):
    """N x H x W labels, instance ids (None: the model takes none) and N x K x H x W
    features (None: no encoder), padded for the network, on the backend's device."""

    labels: torch.Tensor
    instances: torch.Tensor | None
    features: torch.Tensor | None


def map_feeds(
    input_names: list[str], maps: Maps, label_dtype: torch.dtype = torch.int32
) -> dict[str, torch.Tensor]:
    """labels (+ instances, + features, where the artifact takes them) by input name, in the
    dtypes the exporter declares: int32 maps (labels in `label_dtype` where a graph takes
    them so), float32 features."""
    feeds = {"labels": maps.labels.to(label_dtype)}
    if "instances" in input_names:
        feeds["instances"] = maps.instances.to(torch.int32)
    if "features" in input_names:
        feeds["features"] = maps.features.float()
    return feeds
