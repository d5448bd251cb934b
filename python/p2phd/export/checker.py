# SPDX-License-Identifier: Apache-2.0
"""The export's verification: each stage's artifact run on one sample against float64 truth."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from p2phd.artifact_io import Shapes, TensorSpec
from p2phd.export import verify as verification
from p2phd.export.common import ExportUsageError, Progress, check_size
from p2phd.models.config import GeneratorConfig

# Runs an artifact on named inputs: its output, or a string saying why it cannot run here.
Runner = Callable[[Path, Mapping[str, torch.Tensor]], "np.ndarray | str"]


def check_verify_size(
    shapes: Shapes, verify_size: tuple[int, int] | None, stride: int
) -> tuple[int, int]:
    """The size the artifact is verified at: `verify_size` where the artifact takes it."""
    if verify_size is None:
        return shapes.size
    h, w = check_size(verify_size, stride, "verify size")
    (lo_h, lo_w), (hi_h, hi_w) = shapes.min_size, shapes.max_size
    if not shapes.dynamic and (h, w) != shapes.size:
        raise ExportUsageError(
            f"verify size {h}x{w}: a fixed-size artifact takes {hi_h}x{hi_w} only "
            "(export with --dynamic to verify at another size)"
        )
    if not (lo_h <= h <= hi_h and lo_w <= w <= hi_w):
        raise ExportUsageError(
            f"verify size {h}x{w} is outside the artifact's range {lo_h}x{lo_w} .. {hi_h}x{hi_w}"
        )
    return h, w


class Checker:
    """Runs each stage's artifact on the sample and applies the verification rule."""

    def __init__(
        self,
        generator: torch.nn.Module,
        config: GeneratorConfig,
        clusters: Mapping[int, np.ndarray] | None,
        shapes: Shapes,
        size: tuple[int, int],
        inputs: Sequence[TensorSpec],
        precision: str,
        with_preprocess: bool,
        maps: Sequence[tuple[np.ndarray, np.ndarray]] | None,
        tolerance: float | None,
        progress: Progress,
        to: str,
    ) -> None:
        batch = min(2, shapes.batch) if shapes.dynamic else shapes.batch
        if maps is None:
            maps = verification.synthetic_maps(config, batch, size, seed=0)
        else:
            maps = list(maps)
            wrong = [np.shape(m[0]) for m in maps if tuple(np.shape(m[0])) != size]
            if wrong or not maps or (not shapes.dynamic and len(maps) != shapes.batch):
                raise ExportUsageError(
                    f"verify_maps must be {'up to ' if shapes.dynamic else ''}{shapes.batch} "
                    f"map(s) of {size[0]} x {size[1]}"
                )
        self.sample = verification.make_sample(config, maps, clusters, seed=0)
        self.feeds = self.sample.feeds(inputs)
        self.generator = generator
        self.precision = precision
        self.with_preprocess = with_preprocess
        self.factor = verification.DEFAULT_FACTOR if tolerance is None else tolerance
        self.progress = progress
        self.to = to
        self.verifications: list[verification.Verification] = []
        self._refs: verification.References | None = None

    def check(self, stage: str, backend: str, path: Path, run: Runner) -> None:
        """Run the artifact at `path` (`run` returns its output, or why it cannot run here)
        and raise VerificationError when it breaks the rule."""
        got = run(path, self.feeds)
        if isinstance(got, str):
            result = verification.Verification(stage, backend, skipped=got)
        else:
            if self._refs is None:  # once per export: the float64 run is the slow part
                h, w = self.sample.labels.shape[1:]
                self.progress(f"running the torch model in float64 and {self.precision} at {h}x{w}")
                self._refs = verification.references(self.generator, self.sample.x, self.precision)
            result = verification.compare(
                stage, backend, got, self._refs, self.precision, self.with_preprocess, self.factor
            )
        # Reported once, by the caller (the CLI prints result.verifications).
        self.verifications.append(result)
        if result.passed is False:
            step = "" if stage == self.to else f" (the {stage} step of the {self.to} export)"
            raise verification.VerificationError(
                f"the {stage} artifact{step} is further from the float64 torch model than "
                f"the rule allows; nothing was written. {result.describe()}",
                result,
            )
