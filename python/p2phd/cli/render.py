# SPDX-License-Identifier: Apache-2.0
"""p2phd-render: label (+ instance) maps -> images with a pix2pixHD generator.

  p2phd-render MODEL LABELS.png --out IMAGE.png     one map (its instance map is found next
                                                    to it, or given with --instances)
  p2phd-render MODEL LABELS.png --out IMAGE.png     one map whose instances take their
                --style-from PHOTO.png              styles from a photo of its size through
                                                    the model's encoder (the public
                                                    test.py's --use_encoded_image)
  p2phd-render MODEL DIR --out OUT_DIR              every map of a folder: DIR may be a
                                                    dataset root with test_label/ and
                                                    test_inst/ (the public layout), or a
                                                    folder of label maps; a line of
                                                    OUT_DIR/p2phd-manifest.jsonl says
                                                    what reproduces each output; a
                                                    killed render's half-written images
                                                    there go when the next one starts
  p2phd-render MODEL DIR --out OUT_DIR --ray        the same on a Ray cluster (p2phd[ray]):
                [auto|local|ADDRESS] [--actors N]   one Runtime per actor, existing outputs
                [--batch-size B] [--overwrite]      skipped unless --overwrite
  p2phd-render --demo OUT.png [--seed S]            a synthetic street scene rendered by
                                                    the small model shipped with p2phd

MODEL is a public checkpoint (directory or *_net_G.pth), a p2phd bundle, an ONNX, OpenVINO
IR (.xml) or TorchScript (.pt) file, a TensorRT engine, or demo (the small model shipped with
p2phd). On a CPU it renders with OpenVINO by default (--backend auto).
Exit status: 0 all rendered, 1 an error at run time or some inputs failed (listed), 2 bad
usage. Errors are one line; P2PHD_TRACEBACK=1 shows where they came from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from p2phd.atomic import remove_dead_temporaries, remove_stale_temporaries
from p2phd.cli.common import (
    MAX_SIDE,
    Parser,
    UsageError,
    add_runtime_arguments,
    check_output_dir,
    check_output_file,
    describe_error,
    int_at_least,
    non_negative_int,
    run_parsed,
    runtime_options,
    scene_size,
    write_image,
)
from p2phd.cli.progress import Progress
from p2phd.cli.ray_render import add_ray_arguments, check_ray_arguments, run_on_ray
from p2phd.data.synthetic import synthetic_scene
from p2phd.image_io import read_instance_map, read_label_map, read_photo
from p2phd.map_jobs import (
    Job,
    OutputCollision,
    append_manifest,
    manifest_record,
    open_manifest,
    plan_jobs,
)
from p2phd.runtime import Runtime

# The demo model: a bundle trained on synthetic scenes by tools/train_demo.sh.
DEMO_MODEL = Path(__file__).resolve().parent.parent / "demo"


def parse_style(items: list[str]) -> dict[int, int]:
    style = {}
    for item in items:
        instance_id, _, cluster = item.partition("=")
        try:
            style[int(instance_id)] = int(cluster)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--style takes ID=K, got {item!r}") from None
    return style


def scale_width(array: np.ndarray, width: int) -> np.ndarray:
    """A label or instance map scaled as the public test.py does (--resize_or_crop
    scale_width --loadSize WIDTH): width WIDTH, height int(WIDTH * H / W), nearest pixel."""
    height, old_width = array.shape
    if old_width == width:
        return array
    new_height = int(width * height / old_width)
    if new_height < 1:
        raise ValueError(f"--resize {width} would make this {height}x{old_width} map empty")
    image = Image.fromarray(array)
    return np.asarray(image.resize((width, new_height), Image.NEAREST)).astype(array.dtype)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="p2phd-render", description=__doc__)
    parser.add_argument(
        "model",
        nargs="?",
        help="checkpoint, bundle, ONNX or TorchScript file, TensorRT engine, or demo",
    )
    parser.add_argument(
        "input", nargs="?", help="a label map PNG, or a folder of them / a dataset root"
    )
    parser.add_argument("--out", help="output PNG (one input) or folder")
    parser.add_argument(
        "--demo", metavar="OUT.png", help="render a synthetic scene with the bundled demo model"
    )
    parser.add_argument("--size", type=scene_size, default=(256, 512), help="--demo scene HxW")
    parser.add_argument("--instances", help="instance map PNG of a single label map")
    parser.add_argument("--phase", default="test", help="dataset phase folder prefix")
    parser.add_argument(
        "--resize",
        type=int_at_least(1),
        metavar="WIDTH",
        help="scale the maps to this width first, keeping the aspect ratio, nearest pixel "
        "(the public test.py's --loadSize WIDTH --resize_or_crop scale_width)",
    )
    parser.add_argument(
        "--rounding",
        choices=("nearest", "public"),
        default="nearest",
        help="float -> uint8: nearest (default) or public, the public pix2pixHD code's "
        "truncation, for bit-exact comparison with its results",
    )
    add_runtime_arguments(
        parser,
        precision_help="auto: fp16 on CUDA, fp32 on the CPU; bf16 on a CPU needs its bf16 units "
        "(AMX or AVX512-BF16) for openvino",
    )
    parser.add_argument("--label-nc", type=int_at_least(1), help="classes of a public checkpoint")
    parser.add_argument(
        "--no-instance", action="store_true", help="a public checkpoint trained with --no_instance"
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of every map's instance feature clusters, as Runtime.render(seed=S) "
        "(default 0); also the --demo scene",
    )
    parser.add_argument(
        "--style", action="append", default=[], metavar="ID=K", help="cluster K for instance ID"
    )
    parser.add_argument(
        "--style-from",
        metavar="PHOTO",
        help="one map only: every instance takes its style from this RGB photo of the map's "
        "size, through the model's encoder (the public test.py's --use_encoded_image)",
    )
    add_ray_arguments(parser)
    return parser


def render_demo(args: argparse.Namespace) -> int:
    """A synthetic scene through the bundled demo model."""
    out = check_output_file(args.demo, "--demo")
    if not (DEMO_MODEL / "weights.safetensors").is_file():
        raise OSError(f"the demo model is missing from {DEMO_MODEL}")
    seed = args.seed
    start = time.perf_counter()
    runtime = Runtime(DEMO_MODEL, **runtime_options(args))
    scene = synthetic_scene(seed, *args.size)
    image = runtime.render(scene.labels, scene.instances, seed=seed)
    remove_stale_temporaries(out)  # what a killed --demo of this file left
    write_image(out, image)
    elapsed = time.perf_counter() - start
    print(
        f"{out}: synthetic scene {seed} ({args.size[0]}x{args.size[1]}) rendered by the demo "
        f"model ({runtime.backend}) on {runtime.device} in {elapsed:.2f} s"
    )
    return 0


def read_maps(job: Job, use_instance: bool, resize: int | None) -> tuple[np.ndarray, ...]:
    labels = read_label_map(job.labels)
    instances = None
    if use_instance:
        if job.instances is None:
            raise ValueError("no instance map found next to it (use --instances)")
        instances = read_instance_map(job.instances)
    if resize is not None:
        labels = scale_width(labels, resize)
        instances = None if instances is None else scale_width(instances, resize)
    if max(labels.shape) > MAX_SIDE:
        raise ValueError(f"a {labels.shape[0]}x{labels.shape[1]} map is over {MAX_SIDE} a side")
    return labels, instances


def style_photo(args: argparse.Namespace, source: Path) -> np.ndarray | None:
    """The --style-from photo, read and checked against the map's size (after --resize)
    before any model loads; None without the option."""
    if args.style_from is None:
        return None
    if source.is_dir() or args.ray is not None:
        raise UsageError("--style-from takes one label map, not a folder")
    if args.style:
        raise UsageError("--style-from gives every instance its style: drop --style")
    path = Path(args.style_from)
    if not path.exists():
        raise UsageError(f"--style-from: {path} does not exist")
    try:
        photo = read_photo(path)
    except ValueError as error:
        raise UsageError(f"--style-from: {error}") from None
    labels = read_label_map(source)
    if args.resize is not None:
        labels = scale_width(labels, args.resize)
    if photo.shape[:2] != labels.shape:
        raise UsageError(
            f"--style-from: {path} is {photo.shape[0]}x{photo.shape[1]}, the map {source} is "
            f"{labels.shape[0]}x{labels.shape[1]}"
        )
    return photo


def check_style_model(runtime: Runtime, model: str) -> None:
    """--style-from needs a feature model with its encoder (the public latest_net_E.pth)."""
    if not runtime.config.instance_feat:
        raise UsageError(
            f"--style-from: {model} has no instance features (trained without --instance_feat)"
        )
    if runtime.encoder is None:
        raise UsageError(f"--style-from: {model} has no encoder (latest_net_E.pth) for a photo")


def planned_jobs(source: Path, out: Path, instances: Path | None, phase: str) -> list[Job]:
    """The jobs of a render, before any model loads: usage errors when there are no maps or
    when two maps' images would be written to one file."""
    try:
        jobs = plan_jobs(source, out, instances, phase)
    except OutputCollision as error:
        raise UsageError(str(error)) from None
    if not jobs:
        raise UsageError(f"no label maps (*.png) found in {source}")
    return jobs


def render_maps(args: argparse.Namespace) -> int:
    if args.model is None or args.input is None or args.out is None:
        raise UsageError("give MODEL INPUT --out OUT, or --demo OUT.png")
    try:
        style = parse_style(args.style)
    except argparse.ArgumentTypeError as error:
        raise UsageError(str(error)) from None
    source, out = Path(args.input), Path(args.out)
    if not source.exists():
        raise UsageError(f"{source} does not exist")
    if not (source.is_file() or source.is_dir()):
        raise UsageError(f"{source} is not a label map file or a folder of them")
    if source.is_file():
        check_output_file(out, "--out")
    else:
        check_output_dir(out, "--out")
    photo = style_photo(args, source)
    options = runtime_options(args)
    if args.label_nc is not None:
        options["label_nc"] = args.label_nc
    if args.no_instance:
        options["use_instance"] = False
    check_ray_arguments(args)
    if args.ray is not None:
        return run_on_ray(args, {**options, "rounding": args.rounding}, style)
    jobs = planned_jobs(source, out, Path(args.instances) if args.instances else None, args.phase)
    try:
        runtime = Runtime(args.model, rounding=args.rounding, **options)
    except Exception as error:  # whatever went wrong, name the model that did not load
        raise RuntimeError(f"cannot load {args.model}: {describe_error(error)}") from error
    print(runtime.describe(), file=sys.stderr)
    if photo is not None:
        check_style_model(runtime, args.model)
    provenance = runtime.provenance()
    # A killed render's half-written images go; a render still writing here keeps its own.
    if source.is_dir():
        remove_dead_temporaries(out)
    else:
        remove_stale_temporaries(out)
    failures: list[tuple[Path, str]] = []
    progress = Progress(len(jobs), "images", "rendered")
    # A folder render records each output it writes (opened at the first one); a one-image
    # render writes only the image.
    manifest: BinaryIO | None = None
    try:
        for job in jobs:
            ok = True
            try:
                labels, instances = read_maps(job, runtime.config.use_instance, args.resize)
                image = runtime.render(
                    labels, instances, style=style or None, features_from=photo, seed=args.seed
                )
                write_image(job.out, image)
                if source.is_dir():
                    manifest = manifest or open_manifest(out)
                    record = manifest_record(job, provenance, args.seed, style, args.resize)
                    append_manifest(manifest, record)
            except (ValueError, RuntimeError, OSError) as error:
                failures.append((job.labels, str(error)))
                ok = False
            progress.update(job.labels.name, ok=ok)
    finally:
        if manifest is not None:
            manifest.close()
    progress.finish(f"to {out}")
    for path, reason in failures:
        print(f"failed: {path}: {reason}", file=sys.stderr)
    return 1 if failures else 0


def render(args: argparse.Namespace) -> int:
    return render_demo(args) if args.demo else render_maps(args)


def main(argv: list[str] | None = None) -> int:
    return run_parsed(build_parser(), render, argv)


if __name__ == "__main__":
    sys.exit(main())
