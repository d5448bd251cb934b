# SPDX-License-Identifier: Apache-2.0
"""What byte-reproducibility (issue 29) costs on a CPU: each change against what it replaced,
timed interleaved in one run (one call of each case in turn, round after round, after one
warm-up round; bench.timing), medians of wall time and of process CPU time (all threads;
less moved by other work on the machine).

  python tools/reproducibility_cost.py [--runs 9] [--sizes 64x128,256x512] [--batch 4]

Cases, on the bundled demo model's generator (fp32):
- torch: PyTorch's own convolution choice (its im2col + MKL path for small single maps)
  against every convolution routed to oneDNN (runtime/onednn.py), batch 1 and `--batch`;
- OpenVINO f32: the whole batch in one inference against one inference per map, which is
  how the Runtime now runs a batch on its CPU backends.
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable

import torch

from p2phd import checkpoint, ops
from p2phd.bench import timing
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig
from p2phd.runtime import openvino_models
from p2phd.runtime.onednn import route_convolutions_to_onednn


def parse_sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in size.split("x")) for size in text.split(",")]  # type: ignore[misc]


def generator_inputs(config: GeneratorConfig, height: int, width: int, batch: int) -> torch.Tensor:
    """The generator's input for synthetic scenes 0..batch-1 (zero features where it has them)."""
    scenes = [synthetic_scene(seed, height, width) for seed in range(batch)]
    labels = torch.stack([torch.from_numpy(s.labels) for s in scenes])
    instances = torch.stack([torch.from_numpy(s.instances) for s in scenes])
    features = None
    if config.instance_feat:
        features = torch.zeros(batch, config.feat_num, height, width)
    return ops.generator_input(labels, instances, config.label_nc, features=features)


def openvino_cases(
    generator: torch.nn.Module, config: GeneratorConfig, x: torch.Tensor
) -> dict[str, Callable[[], object]]:
    core = openvino_models.core()
    model = openvino_models.convert_generator(generator, config, with_preprocess=False)
    properties = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    batch = x.shape[0]
    whole = core.compile_model(model, "CPU", properties).create_infer_request()
    single = core.compile_model(model, "CPU", properties).create_infer_request()
    whole_input, map_inputs = x.numpy(), [x[i : i + 1].numpy() for i in range(batch)]
    return {
        f"OpenVINO f32, batch {batch} whole (before)": lambda: whole.infer([whole_input]),
        f"OpenVINO f32, batch {batch} per map (now)": lambda: [
            single.infer([m]) for m in map_inputs
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("64x128,256x512"))
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    model = checkpoint.load(checkpoint.resolve_model("demo"))
    pytorch_choice = model.generator.eval()
    onednn = route_convolutions_to_onednn_copy(pytorch_choice)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {timing.load_average():.1f}")
    print(f"{'case':<52} {'HxW':>8} {'wall ms':>9} {'CPU ms':>9}")
    with torch.inference_mode():
        for height, width in args.sizes:
            cases: dict[str, Callable[[], object]] = {}
            for batch in (1, args.batch):
                x = generator_inputs(model.config, height, width, batch)
                cases[f"torch fp32, batch {batch}, PyTorch's choice (before)"] = lambda x=x: (
                    pytorch_choice(x)
                )
                cases[f"torch fp32, batch {batch}, oneDNN (now)"] = lambda x=x: onednn(x)
            cases |= openvino_cases(pytorch_choice, model.config, x)
            measurement = timing.measure(list(cases.values()), args.runs, warmup=1)
            for name, samples in zip(cases, measurement.samples, strict=True):
                wall, cpu = samples.median_ms, samples.median_cpu_ms
                print(f"{name:<52} {f'{height}x{width}':>8} {wall:>9.1f} {cpu:>9.1f}")
    print(f"load after {timing.load_average():.1f}")
    return 0


def route_convolutions_to_onednn_copy(generator: torch.nn.Module) -> torch.nn.Module:
    routed = copy.deepcopy(generator)
    route_convolutions_to_onednn(routed)
    return routed


if __name__ == "__main__":
    raise SystemExit(main())
