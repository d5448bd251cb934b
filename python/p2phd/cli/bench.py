# SPDX-License-Identifier: Apache-2.0
"""p2phd-bench: latency benchmarks a user can rerun."""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile

import torch

from p2phd import __version__, bench_ops, bench_render, build_info
from p2phd.quality import bench as quality_bench


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

    render_parser = commands.add_parser(
        "render",
        help="time whole renders and their stages against the public pipeline (FP32 eager), "
        "FP16 eager and torch.compile of the same random weights",
    )
    render_parser.add_argument(
        "--arch", choices=sorted(bench_render.ARCHITECTURES), default="label2city_1024p"
    )
    render_parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    render_parser.add_argument(
        "--sizes",
        type=lambda text: [parse_size(part) for part in text.split(",")],
        default=[(256, 512), (512, 1024), (1024, 2048)],
        help="comma-separated HxW list (default 256x512,512x1024,1024x2048)",
    )
    render_parser.add_argument(
        "--batches",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[1, 4],
        help="comma-separated batch sizes (default 1,4)",
    )
    render_parser.add_argument(
        "--precisions",
        type=lambda text: text.split(","),
        help="comma-separated Runtime precisions to time on the torch and fused backends "
        "(default fp16,bf16,fp32 on CUDA, fp32 on the CPU)",
    )
    render_parser.add_argument("--runs", type=int, default=20, help="timed runs after warm-up")
    render_parser.add_argument("--warmup", type=int, default=3)
    render_parser.add_argument(
        "--compile",
        default="max-autotune",
        help="torch.compile mode of the baseline, or 'none' to skip it (compiling the "
        "label2city_1024p generator takes minutes)",
    )
    render_parser.add_argument("--json", help="also write the results to this JSON file")

    quality_parser = commands.add_parser(
        "quality",
        help="pix2pixHD's segmentation score (pixel accuracy, mean IoU) of renders of held-out "
        "synthetic scenes, with the oracle, an untrained generator and an L1-only one as rows; "
        "PSNR and SSIM against the synthetic photos as extra columns",
    )
    quality_parser.add_argument(
        "models", nargs="+", metavar="MODEL", help="checkpoints or bundles to score"
    )
    quality_parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    quality_parser.add_argument("--size", type=parse_size, default=(256, 512), help="HxW")
    quality_parser.add_argument(
        "--seeds", type=parse_range, default=range(100000, 100050), help="held-out A-B"
    )
    quality_parser.add_argument(
        "--segmenter", help="segmenter folder (default: the one shipped with p2phd)"
    )
    quality_parser.add_argument("--l1-model", help="an L1-only generator to score as a row")
    quality_parser.add_argument(
        "--l1-seeds", type=parse_range, default=range(0, 3000), help="L1 baseline train A-B"
    )
    quality_parser.add_argument(
        "--l1-iterations",
        type=int,
        default=0,
        help="train an L1-only generator of the first MODEL's architecture for this many "
        "iterations and score it (0: no such row)",
    )
    quality_parser.add_argument("--l1-batch", type=int, default=8)
    quality_parser.add_argument("--l1-save", help="keep the L1-only generator as a bundle here")
    quality_parser.add_argument("--json", help="also write the results to this JSON file")
    return parser


def parse_range(text: str) -> range:
    first, _, last = text.partition("-")
    try:
        return range(int(first), int(last) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a seed range A-B, got {text!r}") from None


def write_json(path: str, device: str, command: str, args: argparse.Namespace, rows: list) -> None:
    record = {
        "p2phd": __version__,
        "torch": torch.__version__,
        "device": device,
        "machine": machine_description(device),
        "command": command,
        "arguments": {
            k: str(v) if isinstance(v, range) else v
            for k, v in vars(args).items()
            if k not in ("json", "command")
        },
        "timings": [dataclasses.asdict(row) for row in rows],
    }
    with open(path, "w") as handle:
        json.dump(record, handle, indent=2)


def main_render(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    compile_mode = None if args.compile == "none" else args.compile
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory() as model_dir:
        rows = bench_render.run(
            args.arch,
            args.sizes,
            args.batches,
            device,
            args.runs,
            args.warmup,
            compile_mode,
            f"{model_dir}/model",
            args.precisions or (["fp16", "bf16", "fp32"] if device.type == "cuda" else ["fp32"]),
        )
    machine = machine_description(args.device)
    print(f"p2phd {__version__} render, {args.arch}, {args.device}: {machine}")
    print(
        f"{'case':<44} {'size':>10} {'N':>2} {'median ms':>10} {'p90 ms':>9} "
        f"{'img/s':>8} {'work MB':>8} {'peak MB':>8} {'PSNR':>6}"
    )
    for row in rows:
        memory = f"{row.working_memory_mb:8.0f}" if row.working_memory_mb is not None else " " * 8
        peak = f"{row.peak_memory_mb:8.0f}" if row.peak_memory_mb is not None else " " * 8
        quality = f"{row.psnr_db:6.1f}" if row.psnr_db is not None else " " * 6
        print(
            f"{row.case:<44} {row.width:>5}x{row.height:<4} {row.batch:>2} "
            f"{row.median_ms:>10.3f} {row.p90_ms:>9.3f} {row.images_per_s:>8.1f} {memory} "
            f"{peak} {quality}"
        )
    print(
        "work MB: peak allocation during the timed runs over what was resident before; "
        "peak MB: all a fresh process allocates to load the model and render (CUDA only)"
    )
    if args.json:
        write_json(args.json, args.device, "render", args, rows)
    return 0


def main_ops(args: argparse.Namespace) -> int:
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
        write_json(args.json, args.device, "ops", args, timings)
    return 0


def main_quality(args: argparse.Namespace) -> int:
    if args.l1_model and args.l1_iterations:
        print("p2phd-bench: give --l1-model or --l1-iterations, not both", file=sys.stderr)
        return 2
    height, width = args.size
    l1_training = None
    if args.l1_iterations:
        l1_training = quality_bench.L1Training(
            args.l1_seeds, args.l1_iterations, args.l1_batch, args.l1_save
        )
    try:
        rows = quality_bench.run(
            args.models,
            torch.device(args.device),
            args.seeds,
            height,
            width,
            args.segmenter,
            args.l1_model,
            l1_training,
        )
    except (OSError, ValueError) as error:
        print(f"p2phd-bench quality: {error}", file=sys.stderr)
        return 2
    seeds = f"{args.seeds.start}-{args.seeds.stop - 1}"
    print(
        f"p2phd {__version__} quality, {rows[0].scenes} held-out scenes (seeds {seeds}), "
        f"{height}x{width}, segmenter {args.segmenter or 'shipped'}"
    )
    print(quality_bench.format_table(rows))
    if args.json:
        write_json(args.json, args.device, "quality", args, rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.device == "cuda" and not (torch.cuda.is_available() and build_info()["cuda"]):
        print("p2phd-bench: --device cuda needs a GPU and a CUDA build of p2phd", file=sys.stderr)
        return 2
    commands = {"ops": main_ops, "render": main_render, "quality": main_quality}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
