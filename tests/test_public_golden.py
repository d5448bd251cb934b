# SPDX-License-Identifier: Apache-2.0
"""p2phd's generators against numbers the public pix2pixHD code produced (frozen by
tools/make_public_golden.py): same state-dict keys, same outputs on the same input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from p2phd.models import GeneratorConfig, build_generator

GOLDEN = Path(__file__).parent / "data" / "public_golden.safetensors"
# The architectures of tools/make_public_golden.py's CASES, as p2phd configures them.
CONFIGS = {
    "global": GeneratorConfig(
        label_nc=5, netG="global", ngf=2, n_downsample_global=2, n_blocks_global=2
    ),
    "local": GeneratorConfig(
        label_nc=5,
        netG="local",
        ngf=2,
        n_downsample_global=2,
        n_blocks_global=2,
        n_local_enhancers=1,
        n_blocks_local=1,
    ),
}


@pytest.fixture(scope="module")
def golden() -> dict[str, torch.Tensor]:
    return load_file(str(GOLDEN))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generator_matches_the_public_code(name, golden):
    prefix = f"{name}.weights."
    weights = {k[len(prefix) :]: v for k, v in golden.items() if k.startswith(prefix)}
    generator = build_generator(CONFIGS[name]).eval()
    generator.load_state_dict(weights, strict=True)  # the public keys, every one
    with torch.no_grad():
        output = generator(golden["input"])
    expected = golden[f"{name}.output"]
    assert output.shape == expected.shape
    # Same ops in the same order; only a different CPU's kernels may round differently.
    torch.testing.assert_close(output, expected, rtol=0, atol=1e-5)
    assert expected.abs().max() > 0.05, "a golden output of zeros would prove nothing"
