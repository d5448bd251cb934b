# SPDX-License-Identifier: Apache-2.0
"""p2phd-render: label (+ instance) maps -> images with a pix2pixHD generator.

  p2phd-render MODEL LABELS.png --out IMAGE.png     one map (its instance map is found next
                                                    to it, or given with --instances)
  p2phd-render MODEL DIR --out OUT_DIR              every map of a folder: DIR may be a
                                                    dataset root with test_label/ and
                                                    test_inst/ (the public layout), or a
                                                    folder of label maps

MODEL is a public checkpoint (directory or *_net_G.pth), a p2phd bundle, an ONNX file or a
TensorRT engine. Exit status: 0 all rendered, 1 some inputs failed (listed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from p2phd.image_io import read_instance_map, read_label_map, write_png
from p2phd.runtime import Runtime

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
    parser.add_argument("model", help="checkpoint, bundle, ONNX file or TensorRT engine")
    parser.add_argument("input", help="a label map PNG, or a folder of them / a dataset root")
    parser.add_argument("--out", required=True, help="output PNG (one input) or folder")
    parser.add_argument("--instances", help="instance map PNG of a single label map")
    parser.add_argument("--phase", default="test", help="dataset phase folder prefix (test)")
    parser.add_argument("--backend", default="auto", help="auto, torch, onnxruntime, tensorrt")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--precision", default="auto", help="auto, fp32, fp16, bf16")
    parser.add_argument("--label-nc", type=int, help="classes of a public checkpoint (35)")
    parser.add_argument("--no-instance", action="store_true", help="public checkpoint without")
    parser.add_argument("--seed", type=int, help="seed for instance feature clusters")
    parser.add_argument(
        "--style", action="append", default=[], metavar="ID=K", help="cluster K for instance ID"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
            image = runtime.render(labels, instances, style=style or None, seed=args.seed)
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
