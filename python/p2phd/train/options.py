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
from typing import Any, Protocol

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
    _add_experiment_options(parser)
    _add_data_options(parser)
    _add_generator_options(parser)
    _add_feature_options(parser)
    _add_loss_options(parser)
    _add_schedule_options(parser)
    _add_output_options(parser)
    _add_ignored_options(parser)
    return parser


class _Group(Protocol):
    """What the option helpers below need of an argument group."""

    def add_argument(self, *names: str, **settings: Any) -> argparse.Action: ...


def _text(group: _Group, name: str, default: str | None, help_text: str) -> None:
    """A text option."""
    group.add_argument(name, default=default, help=help_text)


def _flag(group: _Group, name: str, help_text: str) -> None:
    """An on/off option, off by default."""
    group.add_argument(name, action="store_true", help=help_text)


def _number(group: _Group, name: str, default: float, help_text: str, **extra: Any) -> None:
    """A number option; its type is that of its default (int or float)."""
    group.add_argument(name, type=type(default), default=default, help=help_text, **extra)


def _add_experiment_options(parser: argparse.ArgumentParser) -> None:
    """Name, device, seed and precision."""
    g = parser.add_argument_group("experiment")
    _text(g, "--name", "label2city", "experiment name: checkpoints go to CHECKPOINTS_DIR/NAME")
    _text(g, "--checkpoints_dir", "./checkpoints", "where models are saved")
    _text(g, "--gpu_ids", "0", "GPU ids, e.g. 0 or 0,1; -1 for CPU (with --device auto)")
    g.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: CUDA when available and --gpu_ids is not -1",
    )
    _number(g, "--seed", 0, "seed of the weights, the data order and the augmentation")
    _number(
        g,
        "--num_threads",
        0,
        "torch CPU threads (0: torch's default); 1 is often fastest on a busy small machine",
    )
    _flag(g, "--fp16", "float16 autocast with loss scaling (CUDA only)")
    _flag(g, "--bf16", "bfloat16 autocast (CPU or CUDA)")
    _number(g, "--data_type", 32, "public option; 16 means --fp16", choices=[8, 16, 32])


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    """Where the data set is and how it is loaded."""
    g = parser.add_argument_group("data")
    _text(
        g,
        "--dataroot",
        "./datasets/cityscapes/",
        "dataset root with {phase}_label/, {phase}_inst/, {phase}_img/",
    )
    _text(g, "--phase", "train", "prefix of the data folders")
    _number(g, "--label_nc", 35, "number of input label classes")
    _number(
        g, "--input_nc", 3, "public option; only used with --label_nc 0, which p2phd does not train"
    )
    _number(g, "--output_nc", 3, "output image channels")
    _flag(g, "--no_instance", "no instance maps as input")
    _number(g, "--batchSize", 1, "images per iteration (per process)")
    _number(g, "--loadSize", 1024, "scale images to this size")
    _number(g, "--fineSize", 512, "then crop to this size")
    g.add_argument(
        "--resize_or_crop",
        default="scale_width",
        choices=RESIZE_MODES,
        help="preprocessing of the images at load time",
    )
    _flag(g, "--no_flip", "no random horizontal flips")
    _flag(g, "--serial_batches", "take images in order, else shuffled each epoch")
    _number(g, "--nThreads", 2, "data loader worker processes")
    _number(g, "--max_dataset_size", float("inf"), "use at most this many images")
    _flag(
        g,
        "--load_features",
        "read precomputed feature maps from {phase}_feat/ instead of encoding them",
    )
    _flag(g, "--no_check", "skip reading every file of the data set before training")


def _add_generator_options(parser: argparse.ArgumentParser) -> None:
    """The generator's architecture."""
    g = parser.add_argument_group("generator")
    g.add_argument(
        "--netG",
        default="global",
        choices=["global", "local"],
        help="global generator or local enhancer",
    )
    _number(g, "--ngf", 64, "generator filters in the first conv layer")
    _number(g, "--n_downsample_global", 4, "downsamplings in the global generator")
    _number(g, "--n_blocks_global", 9, "residual blocks in the global generator")
    _number(g, "--n_blocks_local", 3, "residual blocks in each local enhancer")
    _number(g, "--n_local_enhancers", 1, "local enhancers")
    _number(g, "--niter_fix_global", 0, "epochs of training only the outermost local enhancer")
    g.add_argument(
        "--norm", default="instance", choices=["instance"], help="normalisation (instance only)"
    )
    _flag(g, "--use_dropout", "public option; not supported")


def _add_feature_options(parser: argparse.ArgumentParser) -> None:
    """The instance feature encoder and its clustering."""
    g = parser.add_argument_group("features")
    _flag(
        g,
        "--instance_feat",
        "train a feature encoder on instances; cluster its features afterwards",
    )
    _flag(g, "--label_feat", "public option; not supported")
    _number(g, "--feat_num", 3, "instance feature channels")
    _number(g, "--nef", 16, "encoder filters in the first conv layer")
    _number(g, "--n_downsample_E", 4, "downsamplings in the encoder")
    _number(g, "--n_clusters", 10, "k-means clusters per class")
    _flag(g, "--no_cluster", "do not encode and cluster features at the end")


def _add_loss_options(parser: argparse.ArgumentParser) -> None:
    """The discriminator and the loss terms."""
    g = parser.add_argument_group("discriminator and losses")
    _number(g, "--num_D", 2, "discriminator scales")
    _number(g, "--n_layers_D", 3, "layers of each discriminator")
    _number(g, "--ndf", 64, "discriminator filters in the first conv layer")
    _number(g, "--lambda_feat", 10.0, "weight of the feature matching and VGG losses")
    _flag(g, "--no_ganFeat_loss", "no discriminator feature matching loss")
    _flag(g, "--no_vgg_loss", "no VGG perceptual loss")
    _text(
        g,
        "--vgg_weights",
        None,
        "VGG19 weights file (a torchvision vgg19 state dict); needed unless --no_vgg_loss",
    )
    _flag(g, "--no_lsgan", "vanilla GAN loss instead of least squares")
    _number(g, "--pool_size", 0, "image pool of generated images (0 only)")


def _add_schedule_options(parser: argparse.ArgumentParser) -> None:
    """Epochs, learning rate and resuming."""
    g = parser.add_argument_group("schedule")
    _number(g, "--niter", 100, "epochs at the starting learning rate")
    _number(g, "--niter_decay", 100, "epochs of linear decay to zero")
    _number(g, "--lr", 0.0002, "Adam learning rate")
    _number(g, "--beta1", 0.5, "Adam beta1")
    _number(g, "--max_iters", 0, "stop (and save) after this many iterations in total; 0: no limit")
    _flag(g, "--continue_train", "resume from CHECKPOINTS_DIR/NAME/WHICH_EPOCH_*")
    _text(g, "--which_epoch", "latest", "checkpoint to resume from")
    _text(g, "--load_pretrain", "", "directory of a (global) checkpoint to start from")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """Logging, samples and checkpoints."""
    g = parser.add_argument_group("output")
    _number(g, "--display_freq", 100, "samples (in images) between sample grids")
    _number(g, "--print_freq", 100, "samples (in images) between loss lines")
    _number(g, "--save_latest_freq", 1000, "samples (in images) between latest checkpoints")
    _number(g, "--save_epoch_freq", 10, "epochs between numbered checkpoints")
    _flag(
        g, "--debug", "one epoch over at most 10 images, printing and drawing samples every image"
    )
    _flag(
        g, "--quiet", "no progress or loss lines (progress: on stderr from the first iteration on)"
    )


def _add_ignored_options(parser: argparse.ArgumentParser) -> None:
    """Public options accepted and ignored."""
    g = parser.add_argument_group(
        "accepted for the public scripts and ignored (visualisation, DataParallel, model choice)"
    )
    for name in _IGNORED:
        if name in ("no_html", "tf_log", "verbose", "isTrain"):
            g.add_argument(f"--{name}", action="store_true", help="ignored")
        else:
            g.add_argument(f"--{name}", default=None, help="ignored")


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
