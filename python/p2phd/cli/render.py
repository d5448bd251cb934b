# SPDX-License-Identifier: Apache-2.0
"""p2phd-render: label (+ instance) maps -> images with a pix2pixHD generator.

  p2phd-render MODEL LABELS.png --out IMAGE.png     one map (its instance map is found next
                                                    to it, or given with --instances)
  p2phd-render MODEL DIR --out OUT_DIR              every map of a folder: DIR may be a
                                                    dataset root with test_label/ and
                                                    test_inst/ (the public layout), or a
                                                    folder of label maps
  p2phd-render MODEL DIR --out OUT_DIR --ray        the same on a Ray cluster (p2phd[ray]):
                [auto|local|ADDRESS] [--actors N]   one Runtime per actor, existing outputs
                [--batch-size B] [--overwrite]      skipped unless --overwrite
  p2phd-render --demo OUT.png [--seed S]            a synthetic street scene rendered by
                                                    the small model shipped with p2phd

MODEL is a public checkpoint (directory or *_net_G.pth), a p2phd bundle, an ONNX file or a
TensorRT engine. Exit status: 0 all rendered, 1 some inputs failed (listed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from p2phd.cli.bench import parse_size
from p2phd.data.synthetic import synthetic_scene
from p2phd.distributed import map_seed
from p2phd.distributed.command import add_ray_arguments, check_ray_arguments, run_on_ray
from p2phd.image_io import read_instance_map, read_label_map, write_png
from p2phd.runtime import Runtime

# The demo model: a bundle trained on synthetic scenes by tools/train_demo.sh.
DEMO_MODEL = Path(__file__).resolve().parent.parent / "demo"

LABEL_SUFFIX = "_labelIds"  # Cityscapes: <city>_<seq>_<frame>_gtFine_labelIds.png


@dataclass(frozen=True)
class Job:
    labels: Path
    instances: Path | None
    out: Path


def instance_path_for(labels: Path) -> Path | None:
    """The instance map of a label map in the public layout (test_label/ -> test_inst/,
    *_labelIds.png -> *_instanceIds.png), or None."""
    folder = labels.parent
    folders = [folder.with_name(folder.name.replace("_label", "_inst")), folder]
    names = [labels.name.replace("labelIds", "instanceIds"), labels.name]
    for candidate_folder in folders:
        for name in names:
            candidate = candidate_folder / name
            if candidate != labels and candidate.is_file():
                return candidate
    return None


def output_name(labels: Path) -> str:
    stem = labels.stem
    for suffix in (LABEL_SUFFIX, "_gtFine"):
        stem = stem.removesuffix(suffix)
    return f"{stem}.png"


def plan_jobs(source: Path, out: Path, instances: Path | None, phase: str) -> list[Job]:
    if source.is_file():
        return [Job(source, instances or instance_path_for(source), out)]
    label_dir = source / f"{phase}_label" if (source / f"{phase}_label").is_dir() else source
    labels = sorted(p for p in label_dir.iterdir() if p.suffix.lower() == ".png")
    return [Job(p, instance_path_for(p), out / output_name(p)) for p in labels]


def parse_style(items: list[str]) -> dict[int, int]:
    style = {}
    for item in items:
        instance_id, _, cluster = item.partition("=")
        try:
            style[int(instance_id)] = int(cluster)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--style takes ID=K, got {item!r}") from None
    return style


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2phd-render", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("model", nargs="?", help="checkpoint, bundle, ONNX file or TensorRT engine")
    parser.add_argument(
        "input", nargs="?", help="a label map PNG, or a folder of them / a dataset root"
    )
    parser.add_argument("--out", help="output PNG (one input) or folder")
    parser.add_argument(
        "--demo", metavar="OUT.png", help="render a synthetic scene with the bundled demo model"
    )
    parser.add_argument(
        "--size", type=parse_size, default=(256, 512), help="--demo scene size HxW (256x512)"
    )
    parser.add_argument("--instances", help="instance map PNG of a single label map")
    parser.add_argument("--phase", default="test", help="dataset phase folder prefix (test)")
    parser.add_argument(
        "--backend", default="auto", help="auto, torch, fused, onnxruntime, tensorrt"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--precision", default="auto", help="auto, fp32, fp16, bf16")
    parser.add_argument("--label-nc", type=int, help="classes of a public checkpoint (35)")
    parser.add_argument("--no-instance", action="store_true", help="public checkpoint without")
    parser.add_argument(
        "--seed",
        type=int,
        help="seed of the instance feature clusters, drawn per map from its file name and this "
        "seed (0 if not given); also the --demo scene",
    )
    parser.add_argument(
        "--style", action="append", default=[], metavar="ID=K", help="cluster K for instance ID"
    )
    add_ray_arguments(parser)
    return parser


def render_demo(out: Path, seed: int, size: tuple[int, int], device: str) -> int:
    """A synthetic scene through the bundled demo model: label colours | render | photo."""
    if not (DEMO_MODEL / "weights.safetensors").is_file():
        print(f"p2phd-render: the demo model is missing from {DEMO_MODEL}", file=sys.stderr)
        return 1
    start = time.perf_counter()
    runtime = Runtime(DEMO_MODEL, device=device)
    scene = synthetic_scene(seed, *size)
    image = runtime.render(scene.labels, scene.instances, seed=seed)
    write_png(out, image)
    elapsed = time.perf_counter() - start
    print(
        f"{out}: synthetic scene {seed} ({size[0]}x{size[1]}) rendered by the demo model "
        f"on {runtime.device} in {elapsed:.2f} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.demo:
        return render_demo(Path(args.demo), args.seed or 0, args.size, args.device)
    if args.model is None or args.input is None or args.out is None:
        parser.error("give MODEL INPUT --out OUT, or --demo OUT.png")
    try:
        style = parse_style(args.style)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    source, out = Path(args.input), Path(args.out)
    if not source.exists():
        parser.error(f"{source} does not exist")
    if not Path(args.model).exists():
        parser.error(f"{args.model} does not exist")
    options = {}
    if args.label_nc is not None:
        options["label_nc"] = args.label_nc
    if args.no_instance:
        options["use_instance"] = False
    check_ray_arguments(parser, args)
    if args.ray is not None:
        return run_on_ray(parser, args, options, style)
    try:
        runtime = Runtime(
            args.model,
            backend=args.backend,
            device=args.device,
            precision=args.precision,
            **options,
        )
    except (ValueError, RuntimeError, OSError, TypeError) as error:
        print(f"p2phd-render: cannot load {args.model}: {error}", file=sys.stderr)
        return 1
    jobs = plan_jobs(source, out, Path(args.instances) if args.instances else None, args.phase)
    if not jobs:
        parser.error(f"no label maps (*.png) found in {source}")
    print(runtime.describe(), file=sys.stderr)
    failures: list[tuple[Path, str]] = []
    start = time.perf_counter()
    for index, job in enumerate(jobs, 1):
        print(f"\r[{index}/{len(jobs)}] {job.labels.name}", end="", file=sys.stderr, flush=True)
        try:
            labels = read_label_map(job.labels)
            instances = None
            if runtime.config.use_instance:
                if job.instances is None:
                    raise ValueError("no instance map found next to it (use --instances)")
                instances = read_instance_map(job.instances)
            image = runtime.render(
                labels, instances, style=style or None, seed=map_seed(job.labels.name, args.seed)
            )
            write_png(job.out, image)
        except (ValueError, RuntimeError, OSError) as error:
            failures.append((job.labels, str(error)))
    elapsed = time.perf_counter() - start
    done = len(jobs) - len(failures)
    print(
        f"\r{done} of {len(jobs)} images rendered in {elapsed:.2f} s "
        f"({done / elapsed:.2f} images/s) to {out}",
        file=sys.stderr,
    )
    for path, reason in failures:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
