# SPDX-License-Identifier: Apache-2.0
"""Render time of an INT8 IR (p2phd-export --to openvino --int8) against the model it came
from in bf16 and fp32, all through Runtime on the CPU, timed interleaved in one run (one
render of each case in turn, round after round; bench.timing); medians of wall and process CPU time.

  python tools/int8_speed.py INT8_XML [--model demo] [--size 1024x2048] [--runs 5]
"""

from __future__ import annotations

import argparse
import functools

from p2phd.bench import timing
from p2phd.data.synthetic import synthetic_scene
from p2phd.runtime import Runtime
from p2phd.runtime.devices import BF16_FLAGS, cpu_flags


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("int8", help="the INT8 IR (.xml)")
    parser.add_argument("--model", default="demo", help="the model it was exported from")
    parser.add_argument("--size", default="1024x2048", help="HxW")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.split("x"))
    scene = synthetic_scene(7, height, width)
    precisions = ["fp32", "bf16"] if BF16_FLAGS & cpu_flags() else ["fp32"]
    cases = {f"{args.model} {p}": Runtime(args.model, precision=p) for p in precisions}
    cases |= {f"INT8 IR, other layers {p}": Runtime(args.int8, precision=p) for p in precisions}
    renders = [functools.partial(r.render, scene.labels, scene.instances) for r in cases.values()]
    measurement = timing.measure(renders, args.runs, warmup=1)  # the warm-up compiles
    samples = dict(zip(cases, measurement.samples, strict=True))
    print(
        f"{height}x{width}, median of {args.runs} interleaved, load "
        f"{measurement.load_before:.1f} -> {measurement.load_after:.1f}"
    )
    base = f"{args.model} {precisions[-1]}"
    for name in cases:
        w, c = samples[name].median_ms, samples[name].median_cpu_ms
        speedup = samples[base].median_ms / w
        print(f"{name:<32} wall {w:8.0f} ms  CPU {c:8.0f} ms  {base} / this {speedup:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
