# SPDX-License-Identifier: Apache-2.0
"""The class of an instance id, by the public pix2pixHD convention: an id below 1000 is the
class itself (a stuff region), any other is class * 1000 + k (the k-th thing of its class)."""

from __future__ import annotations

from typing import overload

import numpy as np

THING_ID_BASE = 1000


@overload
def instance_class(instance_ids: int) -> int: ...
@overload
def instance_class(instance_ids: np.ndarray) -> np.ndarray: ...
def instance_class(instance_ids: int | np.ndarray) -> int | np.ndarray:
    """The class of one instance id (an int), or of each id of an integer array."""
    if isinstance(instance_ids, np.ndarray):
        base = THING_ID_BASE
        return np.where(instance_ids < base, instance_ids, instance_ids // base)
    instance_id = int(instance_ids)
    return instance_id if instance_id < THING_ID_BASE else instance_id // THING_ID_BASE
