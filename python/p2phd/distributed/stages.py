# SPDX-License-Identifier: Apache-2.0
"""The three stages of a Ray Data render: decode the maps (CPU tasks), render them (a pool
of RenderActor, one Runtime each), encode and write the PNGs (CPU tasks). A map that fails
in any stage carries its error to the end instead of stopping the job."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from p2phd.image_io import read_instance_map, read_label_map, write_png
from p2phd.runtime import Runtime

Batch = dict[str, np.ndarray]

NO_INSTANCES = "no instance map found next to it (use --instances)"
# What a failed map carries in place of an array (columns keep one dtype).
_NO_MAP = np.zeros((1, 1), np.int32)
_NO_IMAGE = np.zeros((1, 1, 3), np.uint8)


def _column(items: Sequence[Any]) -> np.ndarray:
    """A column of arrays (of any shapes) or strings for a Ray Data batch."""
    column = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        column[index] = item
    return column


def read_maps(batch: Batch) -> Batch:
    """Adds label_map and instance_map (int32, any size), error and instance_error."""
    label_maps, instance_maps, errors, instance_errors = [], [], [], []
    for labels, instances in zip(batch["labels"], batch["instances"], strict=True):
        error = instance_error = ""
        label_map = instance_map = _NO_MAP
        try:
            # int32: one dtype for the whole column; values and therefore renders unchanged.
            label_map = read_label_map(labels).astype(np.int32)
        except ValueError as failure:
            error = str(failure)
        if not instances:
            instance_error = NO_INSTANCES
        elif not error:
            try:
                instance_map = read_instance_map(instances).astype(np.int32)
            except ValueError as failure:
                instance_error = str(failure)
        label_maps.append(label_map)
        instance_maps.append(instance_map)
        errors.append(error)
        instance_errors.append(instance_error)
    return {
        **batch,
        "label_map": _column(label_maps),
        "instance_map": _column(instance_maps),
        "error": np.array(errors, dtype=object),
        "instance_error": np.array(instance_errors, dtype=object),
    }


class RenderActor:
    """Holds one Runtime for its lifetime; renders a batch map by map with each map's seed
    (the run's), so the result does not depend on the batch or the actor. Each row also
    carries the Runtime's provenance (JSON) for the manifest."""

    def __init__(
        self,
        model: str,
        runtime_options: dict[str, Any],
        threads: int,
        style: dict[int, int] | None,
    ) -> None:
        torch.set_num_threads(threads)
        try:
            self.runtime = Runtime(model, **runtime_options)
        except (ValueError, RuntimeError, OSError, TypeError) as error:
            # One line for the driver's summary rather than the loader's inner traceback.
            raise RuntimeError(f"cannot load {model}: {error}") from None
        self.style = style
        self.provenance = json.dumps(self.runtime.provenance(), sort_keys=True)

    def __call__(self, batch: Batch) -> Batch:
        use_instance = self.runtime.config.use_instance
        images, errors = [], []
        rows = zip(
            batch["label_map"],
            batch["instance_map"],
            batch["seed"],
            batch["error"],
            batch["instance_error"],
            strict=True,
        )
        for label_map, instance_map, seed, error, instance_error in rows:
            image = _NO_IMAGE
            if not error and use_instance and instance_error:
                error = instance_error
            if not error:
                try:
                    image = self.runtime.render(
                        label_map,
                        instance_map if use_instance else None,
                        style=self.style,
                        seed=int(seed),
                    )
                except (ValueError, RuntimeError, OSError) as failure:
                    error = str(failure)
            images.append(image)
            errors.append(error)
        return {
            "labels": batch["labels"],
            "instances": batch["instances"],
            "out": batch["out"],
            "seed": batch["seed"],
            "provenance": np.array([self.provenance] * len(images), dtype=object),
            "image": _column(images),
            "error": np.array(errors, dtype=object),
        }


def write_images(batch: Batch) -> Batch:
    """Writes each rendered image to its `out` path (atomically); keeps all but the image."""
    errors = list(batch["error"])
    for index, (out, image) in enumerate(zip(batch["out"], batch["image"], strict=True)):
        if errors[index]:
            continue
        try:
            write_png(out, image)
        except (OSError, ValueError) as failure:
            errors[index] = f"cannot write {out}: {failure}"
    kept = {key: value for key, value in batch.items() if key != "image"}
    return {**kept, "error": np.array(errors, dtype=object)}
