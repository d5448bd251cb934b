# SPDX-License-Identifier: Apache-2.0
"""Training options: the public pix2pixHD option names and defaults, plus a few of our own.

The argparse parser is the one definition of every option. From the command line use
`parse_options(argv)`; from Python `make_options(dataroot=..., name=..., ...)`, which starts
from the same defaults and refuses names the parser does not know.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

from p2phd import __version__
from p2phd.models import EncoderConfig, GeneratorConfig

RESIZE_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")

# Public options that only steered the public code's visualisation or its data-parallel
# wrapper; accepted so that existing scripts run, and otherwise ignored.
_IGNORED = ("display_winsize", "tf_log", "no_html", "verbose", "local_rank", "model", "isTrain")


class TrainOptions(argparse.Namespace):
    """The parsed options (an argparse.Namespace with the helpers below)."""

    @property
    def use_instance(self) -> bool:
        return not self.no_instance

    @property
    def use_features(self) -> bool:
        return bool(self.instance_feat or self.label_feat)

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(
            label_nc=self.label_nc,
            use_instance=self.use_instance,
            feat_num=self.feat_num,
            instance_feat=self.use_features,
            netG=self.netG,
            ngf=self.ngf,
            n_downsample_global=self.n_downsample_global,
            n_blocks_global=self.n_blocks_global,
            n_local_enhancers=self.n_local_enhancers,
            n_blocks_local=self.n_blocks_local,
            output_nc=self.output_nc,
        )

    def encoder_config(self) -> EncoderConfig:
        return EncoderConfig(
            input_nc=self.output_nc,
            feat_num=self.feat_num,
            nef=self.nef,
            n_downsample=self.n_downsample_E,
        )

    @property
    def stride(self) -> int:
        """What height and width must be divisible by (2**downsamplings of the generator)."""
        base = 2**self.n_downsample_global
        if self.netG == "local":
            base *= 2**self.n_local_enhancers
        return base


def build_parser(
    parser_class: Callable[..., argparse.ArgumentParser] = argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """The p2phd-train parser; p2phd-train passes its parser class (one-line errors)."""
    parser = parser_class(
        prog="p2phd-train",
        description=(
            "Train a pix2pixHD generator (label map + instance map -> photo). Option names "
            "and defaults are those of the public pix2pixHD train.py, so its scripts port "
            "unchanged. Data: DATAROOT/{phase}_label, {phase}_inst, {phase}_img (paired by "
            "sorted file name), optional {phase}_feat. Output: CHECKPOINTS_DIR/NAME/ with "
            "latest_net_G/D/E.pth, a p2phd bundle (config.json + weights.safetensors), "
            "loss_log.csv, samples/*.png and, for --instance_feat, features_clustered_NNN.npy."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"p2phd {__version__}")
    g = parser.add_argument_group("experiment")
    g.add_argument(
        "--name",
        default="label2city",
        help="experiment name: checkpoints go to CHECKPOINTS_DIR/NAME",
    )
    g.add_argument("--checkpoints_dir", default="./checkpoints", help="where models are saved")
    g.add_argument(
        "--gpu_ids", default="0", help="GPU ids, e.g. 0 or 0,1; -1 for CPU (with --device auto)"
    )
    g.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: CUDA when available and --gpu_ids is not -1",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the weights, the data order and the augmentation",
    )
    g.add_argument(
        "--num_threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default); 1 is often fastest on a busy small machine",
    )
    g.add_argument(
        "--fp16", action="store_true", help="float16 autocast with loss scaling (CUDA only)"
    )
    g.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CPU or CUDA)")
    g.add_argument(
        "--data_type",
        type=int,
        default=32,
        choices=[8, 16, 32],
        help="public option; 16 means --fp16",
    )

    g = parser.add_argument_group("data")
    g.add_argument(
        "--dataroot",
        default="./datasets/cityscapes/",
        help="dataset root with {phase}_label/, {phase}_inst/, {phase}_img/",
    )
    g.add_argument("--phase", default="train", help="prefix of the data folders")
    g.add_argument("--label_nc", type=int, default=35, help="number of input label classes")
    g.add_argument(
        "--input_nc",
        type=int,
        default=3,
        help="public option; only used with --label_nc 0, which p2phd does not train",
    )
    g.add_argument("--output_nc", type=int, default=3, help="output image channels")
    g.add_argument("--no_instance", action="store_true", help="no instance maps as input")
    g.add_argument("--batchSize", type=int, default=1, help="images per iteration (per process)")
    g.add_argument("--loadSize", type=int, default=1024, help="scale images to this size")
    g.add_argument("--fineSize", type=int, default=512, help="then crop to this size")
    g.add_argument(
        "--resize_or_crop",
        default="scale_width",
        choices=RESIZE_MODES,
        help="preprocessing of the images at load time",
    )
    g.add_argument("--no_flip", action="store_true", help="no random horizontal flips")
    g.add_argument(
        "--serial_batches",
        action="store_true",
        help="take images in order, else shuffled each epoch",
    )
    g.add_argument("--nThreads", default=2, type=int, help="data loader worker processes")
    g.add_argument(
        "--max_dataset_size", type=float, default=float("inf"), help="use at most this many images"
    )
    g.add_argument(
        "--load_features",
        action="store_true",
        help="read precomputed feature maps from {phase}_feat/ instead of encoding them",
    )
    g.add_argument(
        "--no_check",
        action="store_true",
        help="skip reading every file of the data set before training",
    )

    g = parser.add_argument_group("generator")
    g.add_argument(
        "--netG",
        default="global",
        choices=["global", "local"],
        help="global generator or local enhancer",
    )
    g.add_argument("--ngf", type=int, default=64, help="generator filters in the first conv layer")
    g.add_argument(
        "--n_downsample_global", type=int, default=4, help="downsamplings in the global generator"
    )
    g.add_argument(
        "--n_blocks_global", type=int, default=9, help="residual blocks in the global generator"
    )
    g.add_argument(
        "--n_blocks_local", type=int, default=3, help="residual blocks in each local enhancer"
    )
    g.add_argument("--n_local_enhancers", type=int, default=1, help="local enhancers")
    g.add_argument(
        "--niter_fix_global",
        type=int,
        default=0,
        help="epochs of training only the outermost local enhancer",
    )
    g.add_argument(
        "--norm", default="instance", choices=["instance"], help="normalisation (instance only)"
    )
    g.add_argument("--use_dropout", action="store_true", help="public option; not supported")

    g = parser.add_argument_group("features")
    g.add_argument(
        "--instance_feat",
        action="store_true",
        help="train a feature encoder on instances; cluster its features afterwards",
    )
    g.add_argument("--label_feat", action="store_true", help="public option; not supported")
    g.add_argument("--feat_num", type=int, default=3, help="instance feature channels")
    g.add_argument("--nef", type=int, default=16, help="encoder filters in the first conv layer")
    g.add_argument("--n_downsample_E", type=int, default=4, help="downsamplings in the encoder")
    g.add_argument("--n_clusters", type=int, default=10, help="k-means clusters per class")
    g.add_argument(
        "--no_cluster", action="store_true", help="do not encode and cluster features at the end"
    )

    g = parser.add_argument_group("discriminator and losses")
    g.add_argument("--num_D", type=int, default=2, help="discriminator scales")
    g.add_argument("--n_layers_D", type=int, default=3, help="layers of each discriminator")
    g.add_argument(
        "--ndf", type=int, default=64, help="discriminator filters in the first conv layer"
    )
    g.add_argument(
        "--lambda_feat",
        type=float,
        default=10.0,
        help="weight of the feature matching and VGG losses",
    )
    g.add_argument(
        "--no_ganFeat_loss", action="store_true", help="no discriminator feature matching loss"
    )
    g.add_argument("--no_vgg_loss", action="store_true", help="no VGG perceptual loss")
    g.add_argument(
        "--vgg_weights",
        default=None,
        help="VGG19 weights file (a torchvision vgg19 state dict); needed unless --no_vgg_loss",
    )
    g.add_argument(
        "--no_lsgan", action="store_true", help="vanilla GAN loss instead of least squares"
    )
    g.add_argument(
        "--pool_size", type=int, default=0, help="image pool of generated images (0 only)"
    )

    g = parser.add_argument_group("schedule")
    g.add_argument("--niter", type=int, default=100, help="epochs at the starting learning rate")
    g.add_argument("--niter_decay", type=int, default=100, help="epochs of linear decay to zero")
    g.add_argument("--lr", type=float, default=0.0002, help="Adam learning rate")
    g.add_argument("--beta1", type=float, default=0.5, help="Adam beta1")
    g.add_argument(
        "--max_iters",
        type=int,
        default=0,
        help="stop (and save) after this many iterations in total; 0: no limit",
    )
    g.add_argument(
        "--continue_train",
        action="store_true",
        help="resume from CHECKPOINTS_DIR/NAME/WHICH_EPOCH_*",
    )
    g.add_argument("--which_epoch", default="latest", help="checkpoint to resume from")
    g.add_argument(
        "--load_pretrain", default="", help="directory of a (global) checkpoint to start from"
    )

    g = parser.add_argument_group("output")
    g.add_argument(
        "--display_freq", type=int, default=100, help="samples (in images) between sample grids"
    )
    g.add_argument(
        "--print_freq", type=int, default=100, help="samples (in images) between loss lines"
    )
    g.add_argument(
        "--save_latest_freq",
        type=int,
        default=1000,
        help="samples (in images) between latest checkpoints",
    )
    g.add_argument(
        "--save_epoch_freq", type=int, default=10, help="epochs between numbered checkpoints"
    )
    g.add_argument(
        "--debug",
        action="store_true",
        help="one epoch over at most 10 images, printing and drawing samples every image",
    )
    g.add_argument(
        "--quiet",
        action="store_true",
        help="no progress or loss lines (progress: on stderr from the first iteration on)",
    )
    g = parser.add_argument_group(
        "accepted for the public scripts and ignored (visualisation, DataParallel, model choice)"
    )
    for name in _IGNORED:
        if name in ("no_html", "tf_log", "verbose", "isTrain"):
            g.add_argument(f"--{name}", action="store_true", help="ignored")
        else:
            g.add_argument(f"--{name}", default=None, help="ignored")
    return parser


# The smallest value of each numeric option (0 for the *_freq options means never).
_MINIMUM: dict[str, int | float] = {
    "seed": 0,
    "num_threads": 0,
    "nThreads": 0,
    "input_nc": 1,
    "output_nc": 1,
    "batchSize": 1,
    "loadSize": 1,
    "fineSize": 1,
    "max_dataset_size": 1,
    "ngf": 1,
    "n_downsample_global": 0,
    "n_blocks_global": 0,
    "n_blocks_local": 0,
    "n_local_enhancers": 0,
    "niter_fix_global": 0,
    "feat_num": 1,
    "nef": 1,
    "n_downsample_E": 0,
    "n_clusters": 1,
    "num_D": 1,
    "n_layers_D": 1,
    "ndf": 1,
    "lambda_feat": 0.0,
    "niter": 0,
    "niter_decay": 0,
    "lr": 0.0,
    "beta1": 0.0,
    "max_iters": 0,
    "display_freq": 0,
    "print_freq": 0,
    "save_latest_freq": 0,
    "save_epoch_freq": 0,
}
# torch.manual_seed takes seeds up to 2**64 - 1.
MAX_SEED = 2**64 - 1


def _check_numbers(opts: TrainOptions) -> None:
    """Every numeric option in its range, named as on the command line."""
    for name, minimum in _MINIMUM.items():
        value = getattr(opts, name)
        if name == "max_dataset_size" and math.isnan(value):  # inf, its default: no limit
            raise ValueError(f"--{name} must be a number (inf: no limit), got {value}")
        if name != "max_dataset_size" and isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--{name} must be a finite number, got {value}")
        if value < minimum:
            raise ValueError(f"--{name} must be >= {minimum}, got {value}")
    if opts.seed > MAX_SEED:
        raise ValueError(f"--seed must be <= {MAX_SEED} (2**64 - 1), got {opts.seed}")
    if opts.beta1 >= 1:
        raise ValueError(f"--beta1 must be below 1, got {opts.beta1}")
    gpus = [item.strip() for item in opts.gpu_ids.split(",") if item.strip()]
    if not all(item.lstrip("-").isdigit() for item in gpus):
        raise ValueError(
            f"--gpu_ids takes GPU numbers such as 0 or 0,1 (-1: CPU), got {opts.gpu_ids!r}"
        )


def _validate(opts: TrainOptions) -> TrainOptions:
    if opts.data_type == 16:
        opts.fp16 = True
    if opts.fp16 and opts.bf16:
        raise ValueError("choose one of --fp16 and --bf16")
    if opts.label_nc < 1:
        raise ValueError("--label_nc 0 (RGB label images) is not supported; give the class count")
    if opts.use_dropout:
        raise ValueError("--use_dropout is not supported")
    if opts.label_feat:
        raise ValueError("--label_feat is not supported; use --instance_feat")
    if opts.pool_size != 0:
        raise ValueError("--pool_size other than 0 is not supported")
    if opts.instance_feat and opts.no_instance:
        raise ValueError("--instance_feat needs instance maps; drop --no_instance")
    if opts.load_features and not opts.instance_feat:
        raise ValueError("--load_features needs --instance_feat")
    _check_numbers(opts)
    if opts.niter + opts.niter_decay < 1:
        raise ValueError("--niter + --niter_decay must be at least one epoch")
    if opts.niter_fix_global and opts.netG != "local":
        raise ValueError("--niter_fix_global applies to --netG local only")
    if opts.debug:
        opts.display_freq = opts.print_freq = 1
        opts.niter, opts.niter_decay, opts.max_dataset_size = 1, 0, 10
    opts.generator_config()  # raises ValueError on an impossible architecture
    if opts.use_features:
        opts.encoder_config()
    return opts


def parse_options(
    argv: Sequence[str] | None = None,
    parser_class: Callable[..., argparse.ArgumentParser] = argparse.ArgumentParser,
) -> TrainOptions:
    """Options from a command line (sys.argv[1:] when argv is None)."""
    parser = build_parser(parser_class)
    opts = parser.parse_args(argv, namespace=TrainOptions())
    try:
        return _validate(opts)
    except ValueError as exc:
        parser.error(str(exc))
        raise  # unreachable


def make_options(**overrides: Any) -> TrainOptions:
    """Options from keyword arguments named as on the command line (defaults otherwise)."""
    parser = build_parser()
    opts = parser.parse_args([], namespace=TrainOptions())
    unknown = sorted(k for k in overrides if not hasattr(opts, k))
    if unknown:
        raise TypeError(f"unknown training option(s): {', '.join(unknown)}")
    for key, value in overrides.items():
        setattr(opts, key, value)
    return _validate(opts)


def format_options(opts: TrainOptions) -> str:
    """The public `opt.txt` text."""
    lines = ["------------ Options -------------"]
    lines += [f"{k}: {v}" for k, v in sorted(vars(opts).items())]
    lines.append("-------------- End ----------------")
    return "\n".join(lines) + "\n"
