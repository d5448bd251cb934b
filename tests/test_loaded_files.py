# SPDX-License-Identifier: Apache-2.0
"""A loaded Runtime owns its weights (issue 24): replacing, rewriting or truncating the files
it was loaded from changes nothing in its renders, and never crashes the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import p2phd

PACKAGE_ROOT = Path(p2phd.__file__).resolve().parents[1]

# Loads a bundle, renders, lets the parent change the weights file, renders again and says
# whether the two images are the same bytes. A SIGBUS kills it with a signal, not an answer.
_SCRIPT = r"""
import os, sys
import numpy as np
import torch
torch.set_num_threads(1)
from p2phd import checkpoint
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime

where, change = sys.argv[1], sys.argv[2]
config = GeneratorConfig(ngf=4, n_downsample_global=1, n_blocks_global=1, label_nc=3,
                         use_instance=False)
models = []
for seed in (0, 1):
    torch.manual_seed(seed)
    models.append(checkpoint.LoadedModel(config=config, generator=build_generator(config)))
bundle = os.path.join(where, "bundle")
checkpoint.save_bundle(models[0], bundle)
weights = os.path.join(bundle, "weights.safetensors")
runtime = Runtime(bundle, backend="torch", device="cpu")
labels = (np.arange(16 * 24).reshape(16, 24) % 3).astype(np.uint8)
before = runtime.render(labels)
if change == "replace":
    checkpoint.save_bundle(models[1], bundle)
elif change == "rewrite":
    other = os.path.join(where, "other")
    checkpoint.save_bundle(models[1], other)
    data = open(os.path.join(other, "weights.safetensors"), "rb").read()
    with open(weights, "r+b") as f:  # in place: the same inode, other bytes
        f.write(data)
        f.truncate()
elif change == "truncate":
    os.truncate(weights, 0)
elif change == "delete":
    os.unlink(weights)
after = runtime.render(labels)
print("same" if np.array_equal(before, after) else "changed")
"""


@pytest.mark.parametrize("change", ["replace", "rewrite", "truncate", "delete"])
def test_renders_do_not_depend_on_the_weights_file(change: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path), change],
        capture_output=True,
        text=True,
        cwd=PACKAGE_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.split() == ["same"]
