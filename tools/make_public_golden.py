# SPDX-License-Identifier: Apache-2.0
"""Writes tests/data/public_golden.safetensors: tiny generators built by the public pix2pixHD
code, their weights (public state-dict keys) and their float outputs on fixed inputs.

tests/test_public_golden.py checks p2phd's generators against these numbers, so a change
that moves p2phd away from the public networks fails even where p2phd's own reference moved
with it. Run once, by hand, with a clone of the public code (it is not part of p2phd):

    git clone https://github.com/NVIDIA/pix2pixHD /tmp/pix2pixHD
    python tools/make_public_golden.py /tmp/pix2pixHD

The public networks.py imports torchvision for its VGG loss only; where torchvision is
missing, an empty stand-in module is enough for the generators.
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "public_golden.safetensors"
# (name, define_G arguments): input_nc = label_nc 5 + 1 edge channel; small enough to commit.
CASES = {
    "global": dict(
        input_nc=6, output_nc=3, ngf=2, netG="global", n_downsample_global=2, n_blocks_global=2
    ),
    "local": dict(
        input_nc=6,
        output_nc=3,
        ngf=2,
        netG="local",
        n_downsample_global=2,
        n_blocks_global=2,
        n_local_enhancers=1,
        n_blocks_local=1,
    ),
}
INPUT_SHAPE = (1, 6, 24, 40)  # N x C x H x W: a size that is not square


def import_public_networks(clone: Path) -> types.ModuleType:
    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401
        except ImportError:
            stand_in = types.ModuleType("torchvision")
            stand_in.models = types.ModuleType("torchvision.models")  # type: ignore[attr-defined]
            sys.modules["torchvision"] = stand_in
    sys.path.insert(0, str(clone))
    from models import networks  # the public pix2pixHD code

    return networks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clone", type=Path, help="a clone of the public pix2pixHD repository")
    args = parser.parse_args()
    networks = import_public_networks(args.clone)
    tensors: dict[str, torch.Tensor] = {}
    generator = torch.Generator().manual_seed(0)
    # One-hot of random labels plus a random 0/1 edge channel, as test.py feeds the generator.
    labels = torch.randint(0, 5, (INPUT_SHAPE[0], *INPUT_SHAPE[2:]), generator=generator)
    one_hot = torch.nn.functional.one_hot(labels, 5).permute(0, 3, 1, 2).float()
    edges = (torch.rand(INPUT_SHAPE[0], 1, *INPUT_SHAPE[2:], generator=generator) < 0.2).float()
    x = torch.cat([one_hot, edges], dim=1)
    tensors["input"] = x
    for name, options in CASES.items():
        torch.manual_seed(1)  # define_G's weights_init draws from the global generator
        net = networks.define_G(norm="instance", gpu_ids=[], **options).eval()
        with torch.no_grad():
            tensors[f"{name}.output"] = net(x).contiguous()
        for key, value in net.state_dict().items():
            tensors[f"{name}.weights.{key}"] = value.contiguous()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT), metadata={"torch": torch.__version__})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
