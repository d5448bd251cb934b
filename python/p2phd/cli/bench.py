# SPDX-License-Identifier: Apache-2.0
"""p2phd-bench: latency benchmarks a user can rerun."""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys

import torch

from p2phd import __version__, bench_ops, build_info


def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must look like 1024x2048 (HxW), got {text!r}"
        ) from None
    if height <= 0 or width <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return height, width


def machine_description(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="p2phd-bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ops_parser = commands.add_parser(
        "ops", help="time each native op against the torch reference, numpy and the public code"
    )
    ops_parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ops_parser.add_argument(
        "--size", type=parse_size, default=(1024, 2048), help="HxW (default 1024x2048)"
    )
    ops_parser.add_argument("--batch", type=int, default=1)
    ops_parser.add_argument("--runs", type=int, default=20, help="timed runs after warm-up")
    ops_parser.add_argument("--json", help="also write the results to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.device == "cuda" and not (torch.cuda.is_available() and build_info()["cuda"]):
        print("p2phd-bench: --device cuda needs a GPU and a CUDA build of p2phd", file=sys.stderr)
        return 2
    height, width = args.size
    timings = bench_ops.run(height, width, args.batch, args.device, args.runs)
    machine = machine_description(args.device)
    print(f"p2phd {__version__} ops, {args.batch}x{height}x{width}, {args.device}: {machine}")
    print(f"{'op':<24} {'implementation':<24} {'median ms':>10} {'p90 ms':>10}")
    for timing in timings:
        print(
            f"{timing.op:<24} {timing.implementation:<24} "
            f"{timing.median_ms:>10.3f} {timing.p90_ms:>10.3f}"
        )
    if args.json:
        record = {
            "p2phd": __version__,
            "torch": torch.__version__,
            "device": args.device,
            "machine": machine,
            "size": [height, width],
            "batch": args.batch,
            "runs": args.runs,
            "timings": [dataclasses.asdict(t) for t in timings],
        }
        with open(args.json, "w") as handle:
            json.dump(record, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
