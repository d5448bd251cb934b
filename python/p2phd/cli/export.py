# SPDX-License-Identifier: Apache-2.0
"""p2phd-export: a pix2pixHD generator to TorchScript, ONNX, a TensorRT engine or OpenVINO
IR (--to openvino: --out names the .xml; its weights go to the .bin beside it).

Writes the artifact and `<artifact>.json` (the description a Runtime or any client reads:
IO semantics, and for feature models the cluster table), verifies the artifact on synthetic
street scenes (at --verify-size, default --size) against the torch model in float64, and
exits 0 when the artifact's error is of the size of torch's own at the same precision
(within --tolerance times it, plus a small floor), 1 when the export failed or breaks that
rule, 2 on usage errors. A failed export leaves nothing at --out.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from p2phd.checkpoint import CheckpointError
from p2phd.cli.common import Parser, parse_size, run_command
from p2phd.export import (
    FORMATS,
    OPSET,
    PRECISIONS,
    ExportError,
    ExportUsageError,
    VerificationError,
    export,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="p2phd-export", description=__doc__)
    parser.add_argument(
        "source", help="a p2phd bundle, or a public pix2pixHD checkpoint (directory or _net_G.pth)"
    )
    parser.add_argument("--to", choices=FORMATS, required=True, help="artifact format")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="fp32", help="precision of the artifact"
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        help="HxW, multiples of the generator's stride (default 1024x2048 rounded to it); "
        "with --dynamic the optimum size of the engine profile",
    )
    parser.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width")
    parser.add_argument("--min-size", type=parse_size, help="with --dynamic: smallest HxW")
    parser.add_argument("--max-size", type=parse_size, help="with --dynamic: largest HxW")
    parser.add_argument(
        "--batch", type=int, default=1, help="fixed batch, or with --dynamic the largest"
    )
    parser.add_argument(
        "--with-preprocess",
        action="store_true",
        help="int32 labels/instances in, uint8 HxWx3 image out; one-hot, edges and the uint8 "
        "conversion inside the graph",
    )
    parser.add_argument("--out", help="artifact path (default: <source name>[-fp16].<ext>)")
    parser.add_argument(
        "--compute-capability",
        action="append",
        metavar="CC",
        help="TensorRT for RTX: build for GPUs of this compute capability (8.6, 12.0 ...); "
        "repeat for several; works without a GPU",
    )
    parser.add_argument("--workspace-mib", type=int, help="TensorRT workspace limit")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (>= {OPSET})")
    parser.add_argument("--triton-repo", metavar="DIR", help="also write a Triton model repository")
    parser.add_argument("--triton-name", help="model name in the Triton repository")
    parser.add_argument(
        "--triton-instances",
        metavar="KIND:COUNT",
        help="Triton instance group, KIND gpu, cpu or model (default: Triton's choice; gpu:1 "
        "for engines)",
    )
    parser.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the artifact against the torch model (default on)",
    )
    parser.add_argument(
        "--verify-size",
        type=parse_size,
        metavar="HxW",
        help="verify at this size instead of --size; with --dynamic only, within its range. "
        "Faster (the float64 run grows with the pixels), but checks the graph at that size only",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        metavar="FACTOR",
        help="how many times torch's own error (at the artifact's precision, against float64) "
        "the artifact's error may be, on top of a small floor (default 10)",
    )
    _add_int8_options(parser)
    public = parser.add_argument_group("public pix2pixHD checkpoints (ignored for bundles)")
    public.add_argument("--label-nc", type=int, help="label classes (public default 35)")
    public.add_argument("--no-instance", action="store_true", help="trained with --no_instance")
    public.add_argument("--feat-num", type=int, help="instance feature channels (default 3)")
    public.add_argument("--which-epoch", help="checkpoint epoch (default latest)")
    parser.add_argument("--quiet", action="store_true", help="print only the result")
    return parser


def _add_int8_options(parser: argparse.ArgumentParser) -> None:
    """--int8 and its calibration (p2phd.export.int8)."""
    parser.add_argument(
        "--int8",
        action="store_true",
        help='--to openvino: quantize the IR to INT8 with NNCF (pip install "p2phd[int8]"), '
        "verified by its segmentation score (mean IoU >= 97%% of the f32 IR's on held-out "
        "synthetic scenes), not by pixel error; with --with-preprocess it renders fastest",
    )
    parser.add_argument(
        "--calibration",
        default="synthetic:32",
        metavar="synthetic[:N]|DATASET",
        help="--int8: the label maps NNCF calibrates on: N synthetic scenes (default 32), or a "
        "folder of label maps (with their instance maps) at least --size large",
    )


def _load_options(args: argparse.Namespace) -> dict:
    options: dict = {}
    if args.label_nc is not None:
        options["label_nc"] = args.label_nc
    if args.no_instance:
        options["use_instance"] = False
    if args.feat_num is not None:
        options["feat_num"] = args.feat_num
    if args.which_epoch is not None:
        options["which_epoch"] = args.which_epoch
    return options


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    return run_command("p2phd-export", lambda: export_command(argv))


def export_command(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    if not args.dynamic and (args.min_size or args.max_size):
        parser.error("--min-size and --max-size need --dynamic")
    if args.verify_size and not args.verify:
        parser.error("--verify-size needs --verify")
    # A plain `kill` should clean up like Ctrl-C does: no temporary file left behind.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = export(
            args.source,
            to=args.to,
            precision=args.precision,
            size=args.size,
            dynamic=args.dynamic,
            batch=args.batch,
            min_size=args.min_size,
            max_size=args.max_size,
            with_preprocess=args.with_preprocess,
            out=args.out,
            compute_capability=args.compute_capability,
            triton_repo=args.triton_repo,
            triton_name=args.triton_name,
            triton_instances=args.triton_instances,
            verify=args.verify,
            verify_size=args.verify_size,
            tolerance=args.tolerance,
            int8=args.int8,
            calibration=args.calibration,
            opset=args.opset,
            workspace_mib=args.workspace_mib,
            load_options=_load_options(args),
            progress=progress,
        )
    except ExportUsageError as exc:
        print(f"p2phd-export: error: {exc}", file=sys.stderr)
        return 2
    except TypeError as exc:  # public-checkpoint options given for a bundle
        print(f"p2phd-export: error: {exc}", file=sys.stderr)
        return 2
    except VerificationError as exc:
        print(f"p2phd-export: verification failed: {exc}", file=sys.stderr)
        return 1
    except (ExportError, CheckpointError, OSError) as exc:
        print(f"p2phd-export: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("p2phd-export: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    quantized = f", {result.sidecar['quantization']}" if "quantization" in result.sidecar else ""
    print(f"wrote {result.path} ({result.format}, {result.sidecar['precision']}{quantized})")
    if result.format == "openvino":
        print(f"wrote {result.path.with_suffix('.bin')} (its weights)")
    print(f"wrote {result.sidecar_path}")
    if result.timing_cache_path is not None:
        print(f"wrote {result.timing_cache_path}")
    if result.triton_model_dir is not None:
        print(f"wrote Triton model {result.triton_model_dir}")
    for verification in result.verifications:
        print(verification.describe())
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    print(f"time: {stages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
