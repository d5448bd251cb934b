# SPDX-License-Identifier: Apache-2.0
"""p2phd-bench: latency benchmarks a user can rerun."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch

from p2phd import __version__, build_info
from p2phd.atomic import atomic_write
from p2phd.bench import cpu as bench_cpu
from p2phd.bench import ops as bench_ops
from p2phd.bench import quality as quality_bench
from p2phd.bench import render as bench_render
from p2phd.cli.common import (
    Parser,
    UsageError,
    add_subcommands,
    check_output_file,
    non_negative_int,
    parse_size,
    positive_int,
    positive_ints,
    run_command,
    scene_size,
    scene_sizes,
)

CUDA_READY = torch.cuda.is_available() and build_info()["cuda"]


def machine_description(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="p2phd-bench", description=__doc__)
    commands = add_subcommands(parser, dest="command", required=True)
    # name, help line, what adds its options, whether it writes --json
    subcommands = [
        (
            "ops",
            "time each native op against the torch reference, numpy and the public code",
            _add_ops_options,
            True,
        ),
        (
            "render",
            "time whole renders and their stages against the public pipeline (FP32 eager), "
            "FP16 eager and torch.compile of the same random weights",
            _add_render_options,
            True,
        ),
        (
            "quality",
            "pix2pixHD's segmentation score (pixel accuracy, mean IoU) of renders of held-out "
            "synthetic scenes, with the oracle, an untrained generator and an L1-only one as "
            "rows; PSNR and SSIM against the synthetic photos as extra columns",
            _add_quality_options,
            True,
        ),
        (
            "serve",
            "loopback load test of p2phd-serve: N clients, a fixed number of requests, with "
            "and without batching",
            _add_serve_options,
            True,
        ),
        (
            "ray",
            "images/s of a folder render: one p2phd-render process against Ray Data with N "
            "actors (the p2phd[ray] extra)",
            _add_ray_options,
            False,
        ),
    ]
    for name, summary, add_options, writes_json in subcommands:
        command = commands.add_parser(name, help=summary)
        add_options(command)
        if writes_json:
            command.add_argument("--json", help="also write the results to this JSON file")
    return parser


def precision_list(text: str) -> list[str]:
    """--precisions: comma-separated Runtime precisions."""
    return text.split(",")


def _add_ops_options(parser: argparse.ArgumentParser) -> None:
    """The ops subcommand's options: native ops against their references."""
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to run")
    parser.add_argument("--size", type=parse_size, default=(1024, 2048), help="HxW")
    parser.add_argument("--batch", type=positive_int, default=1, help="maps per call")
    parser.add_argument("--runs", type=positive_int, default=20, help="timed runs after warm-up")


def _add_render_options(parser: argparse.ArgumentParser) -> None:
    """The render subcommand's options: whole renders and their stages."""
    # Defaults fit the machine the command runs on: the GPU-sized table where CUDA is, a
    # small model at one size on a CPU (the full-size table takes hours there).
    device = "cuda" if CUDA_READY else "cpu"
    parser.add_argument(
        "--arch",
        choices=sorted(bench_render.ARCHITECTURES) + list(bench_render.MODELS),
        default="label2city_1024p" if CUDA_READY else "tiny",
        help="generator architecture (random weights), or a model shipped with p2phd (demo: "
        "its trained weights and clusters)",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default=device, help="where to run")
    parser.add_argument(
        "--sizes",
        type=scene_sizes,
        default=[(256, 512), (512, 1024), (1024, 2048)] if CUDA_READY else [(256, 512)],
        help="comma-separated HxW list",
    )
    parser.add_argument(
        "--batches",
        type=positive_ints,
        default=[1, 4] if CUDA_READY else [1],
        help="comma-separated batch sizes",
    )
    parser.add_argument(
        "--precisions",
        type=precision_list,
        help="comma-separated Runtime precisions to time on each backend (default "
        "fp16,bf16,fp32 on CUDA; on the CPU fp32, and bf16 where it has bf16 units)",
    )
    parser.add_argument(
        "--runs", type=positive_int, default=20 if CUDA_READY else 5, help="timed runs"
    )
    parser.add_argument(
        "--warmup", type=positive_int, default=3 if CUDA_READY else 1, help="untimed runs first"
    )
    parser.add_argument(
        "--compile",
        default="max-autotune" if CUDA_READY else "none",
        help="torch.compile mode of the baseline, or 'none' to skip it (compiling the "
        "label2city_1024p generator takes minutes)",
    )


def _add_quality_options(parser: argparse.ArgumentParser) -> None:
    """The quality subcommand's options: segmentation score of renders."""
    parser.add_argument(
        "models", nargs="+", metavar="MODEL", help="checkpoints or bundles to score"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to run")
    parser.add_argument("--size", type=scene_size, default=(256, 512), help="HxW")
    parser.add_argument(
        "--seeds", type=parse_range, default=range(100000, 100050), help="held-out seeds A-B"
    )
    parser.add_argument(
        "--segmenter", help="segmenter folder (default: the one shipped with p2phd)"
    )
    parser.add_argument(
        "--precisions",
        type=precision_list,
        default=["fp32"],
        metavar="fp32[,bf16]",
        help="score each MODEL in each of these Runtime precisions (bf16 needs a CPU with bf16 "
        "units or a GPU); an INT8 IR from p2phd-export --int8 is scored as a MODEL",
    )
    _add_l1_baseline_options(parser)


def _add_l1_baseline_options(parser: argparse.ArgumentParser) -> None:
    """quality: the generator trained on the L1 loss alone that is scored as a row, a group
    of its own in --help."""
    group = parser.add_argument_group("the L1-only baseline row")
    group.add_argument("--l1-model", help="an L1-only generator to score as a row")
    group.add_argument(
        "--l1-seeds", type=parse_range, default=range(0, 3000), help="L1 baseline train seeds A-B"
    )
    group.add_argument(
        "--l1-iterations",
        type=non_negative_int,
        default=0,
        help="train an L1-only generator of the first MODEL's architecture for this many "
        "iterations and score it (0: no such row)",
    )
    group.add_argument("--l1-batch", type=positive_int, default=8, help="L1 baseline batch")
    group.add_argument(
        "--l1-precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="train the L1 baseline in fp32, or under bf16 autocast (2.5x faster on CPUs "
        "with bf16 matrix units, e.g. Intel AMX)",
    )
    group.add_argument("--l1-save", help="keep the L1-only generator as a bundle here")


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The serve subcommand's options: a loopback load test of p2phd-serve."""
    parser.add_argument("model", nargs="?", help="default: the bundled demo model")
    parser.add_argument(
        "--kind", choices=["edit", "render"], default="edit", help="session edits or POST /render"
    )
    parser.add_argument("--clients", type=positive_int, default=4, help="concurrent clients")
    parser.add_argument(
        "--requests", type=positive_int, default=64, help="requests in all, per case"
    )
    parser.add_argument("--size", type=scene_size, default=(256, 512), help="map HxW")
    parser.add_argument(
        "--max-batch", type=positive_int, default=8, help="largest batch of the batching case"
    )
    parser.add_argument(
        "--max-wait-ms", type=float, default=5.0, help="batching case: longest wait for a batch"
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where the server renders"
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds per case")


def _add_ray_options(parser: argparse.ArgumentParser) -> None:
    """The ray subcommand's options: a folder render against Ray Data."""
    parser.add_argument("model", help="a model as p2phd-render takes it")
    parser.add_argument("dataset", type=Path, help="a root in the public layout")
    parser.add_argument("--size", type=parse_size, help="render a NEAREST-scaled copy, HxW")
    parser.add_argument(
        "--runs", type=positive_int, default=3, help="runs of each case, interleaved"
    )
    parser.add_argument(
        "--actors", type=positive_int, nargs="+", default=[1, 2], help="actor counts to time"
    )
    parser.add_argument("--batch-size", type=positive_int, default=4, help="maps per actor call")
    parser.set_defaults(device="cpu")


def parse_range(text: str) -> range:
    first, _, last = text.partition("-")
    try:
        seeds = range(int(first), int(last) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a seed range A-B, got {text!r}") from None
    if not seeds or seeds.start < 0:
        raise argparse.ArgumentTypeError(
            f"expected non-negative seeds A-B with A <= B, got {text!r}"
        )
    return seeds


def write_json(path: str, device: str, command: str, args: argparse.Namespace, rows: list) -> None:
    record = {
        "p2phd": __version__,
        "torch": torch.__version__,
        "device": device,
        "machine": machine_description(device),
        # 1, 5 and 15 minutes as the results are written: the load the timings ran under.
        "load_average": list(os.getloadavg()),
        "command": command,
        "arguments": {
            k: str(v) if isinstance(v, range) else v
            for k, v in vars(args).items()
            if k not in ("json", "command")
        },
        "timings": [dataclasses.asdict(row) for row in rows],
    }
    # Whole or not at all, only a regular file, and no temporary a killed run left beside it.
    with atomic_write(path, clean_stale=True) as handle:
        handle.write(json.dumps(record, indent=2).encode())


def main_render(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    compile_mode = None if args.compile == "none" else args.compile
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    sizes = ", ".join(f"{h}x{w}" for h, w in args.sizes)
    print(
        f"p2phd-bench: timing {args.arch} on {args.device} at {sizes} (HxW), batches "
        f"{','.join(map(str, args.batches))}, {args.warmup} warm-up + {args.runs} runs each"
        + (f"; torch.compile {compile_mode} first (minutes)" if compile_mode else ""),
        file=sys.stderr,
        flush=True,
    )
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
            args.precisions
            or (["fp16", "bf16", "fp32"] if device.type == "cuda" else bench_cpu.cpu_precisions()),
        )
    machine = machine_description(args.device)
    print(f"p2phd {__version__} render, {args.arch}, {args.device}: {machine}")
    on_cpu = args.device == "cpu"
    print(
        f"{'case':<44} {'HxW':>10} {'N':>2} {'median ms':>10} {'p90 ms':>9} "
        f"{'img/s':>8} {'RSS MB' if on_cpu else 'work MB':>8} {'peak MB':>8} {'PSNR':>6} "
        f"{'mean|d|':>8} {'max|d|':>6}"
    )
    for row in rows:
        working = row.peak_rss_mb if on_cpu else row.working_memory_mb
        memory = f"{working:8.0f}" if working is not None else " " * 8
        peak = f"{row.peak_memory_mb:8.0f}" if row.peak_memory_mb is not None else " " * 8
        quality = f"{row.psnr_db:6.1f}" if row.psnr_db is not None else " " * 6
        mean = f"{row.mean_abs_diff:8.3f}" if row.mean_abs_diff is not None else " " * 8
        largest = f"{row.max_abs_diff:6d}" if row.max_abs_diff is not None else " " * 6
        print(
            f"{row.case:<44} {row.size:>10} {row.batch:>2} "
            f"{row.median_ms:>10.3f} {row.p90_ms:>9.3f} {row.images_per_s:>8.1f} {memory} "
            f"{peak} {quality} {mean} {largest}".rstrip()
        )
    memory_note = (
        "RSS MB: the bench process's peak resident set during one render of the case after "
        "the timed rounds (Linux VmHWM reset before it, else getrusage's lifetime ru_maxrss; "
        "every model the process holds included)"
        if on_cpu
        else "work MB: peak allocation during the timed runs over what was resident before; "
        "peak MB: all a fresh process allocates to load the model and render"
    )
    print(
        f"{memory_note}; profiled render: the default backend's Runtime.render under "
        "RenderProfile, its stages below it and 'other', the time no stage covers (the "
        "render's median less the stages' medians), so they add up to it; PSNR against the "
        "public pipeline; mean|d| and max|d|: uint8 levels from the torch backend in fp32 "
        "(CPU, where the cases are timed interleaved, one of each in turn)"
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
    missing = [m for m in args.models if m != "demo" and not Path(m).exists()]
    if missing:
        raise UsageError(f"MODEL {missing[0]} does not exist")
    if args.l1_model and args.l1_iterations:
        raise UsageError("give --l1-model or --l1-iterations, not both")
    height, width = args.size
    l1_training = None
    if args.l1_iterations:
        l1_training = quality_bench.L1Training(
            args.l1_seeds, args.l1_iterations, args.l1_batch, args.l1_save, args.l1_precision
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
            args.precisions,
        )
    except (OSError, ValueError) as error:
        raise UsageError(str(error)) from error
    seeds = f"{args.seeds.start}-{args.seeds.stop - 1}"
    print(
        f"p2phd {__version__} quality, {rows[0].scenes} held-out scenes (seeds {seeds}), "
        f"{height}x{width}, segmenter {args.segmenter or 'shipped'}"
    )
    print(quality_bench.format_table(rows))
    if args.json:
        write_json(args.json, args.device, "quality", args, rows)
    return 0


def main_serve(args: argparse.Namespace) -> int:
    from p2phd.bench import serve as bench_serve

    rows = bench_serve.run(
        args.model or bench_serve.default_model(),
        args.kind,
        args.clients,
        args.requests,
        args.size,
        args.max_batch,
        args.max_wait_ms,
        args.device,
        args.timeout,
    )
    height, width = args.size
    print(
        f"p2phd {__version__} serve, {args.kind} requests at {height}x{width}, "
        f"{args.clients} clients, {args.device}: {machine_description(args.device)}"
    )
    print(
        f"{'case':<34} {'done':>9} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} "
        f"{'calls':>6} {'batch':>6}"
    )
    for row in rows:
        print(
            f"{row.case:<34} {row.done:>4}/{row.asked:<4} {row.errors:>6} {row.p50_ms:>8.1f} "
            f"{row.p99_ms:>8.1f} {row.requests_per_s:>7.2f} {row.runtime_calls:>6} "
            f"{row.mean_batch:>6.2f}"
        )
    if args.json:
        write_json(args.json, args.device, "serve", args, rows)
    return 1 if any(row.errors or row.done < row.asked for row in rows) else 0


def main_ray(args: argparse.Namespace) -> int:
    from p2phd.bench import distributed as ray_bench

    rows = ray_bench.run(
        args.model, args.dataset, args.size, args.runs, args.actors, args.batch_size
    )
    print(
        f"{rows[0].maps} maps from {args.dataset} at {args.size or 'full size'}, "
        f"{os.cpu_count()} CPUs, median of {args.runs} runs (all runs, s, in brackets)"
    )
    print(ray_bench.format_table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {
        "ops": main_ops,
        "render": main_render,
        "quality": main_quality,
        "serve": main_serve,
        "ray": main_ray,
    }

    def body() -> int:
        if getattr(args, "json", None):
            check_output_file(args.json, "--json")  # before minutes of timing, not after
        if args.device == "cuda" and not CUDA_READY:
            raise RuntimeError("--device cuda needs a GPU and a CUDA build of p2phd")
        return commands[args.command](args)

    return run_command(parser.prog, body)


if __name__ == "__main__":
    sys.exit(main())
