# SPDX-License-Identifier: Apache-2.0
"""Training options: the public pix2pixHD option names and defaults, plus a few of our own.

The argparse parser is the one definition of every option. From the command line use
`parse_options(argv)`; from Python `make_options(dataroot=..., name=..., ...)`, which starts
from the same defaults and refuses names the parser does not know.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from p2phd import __version__
from p2phd.models import EncoderConfig, GeneratorConfig

RESIZE_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")

_Config = TypeVar("_Config")


class TrainOptions(argparse.Namespace):
    """The parsed options (an argparse.Namespace with the helpers below)."""

    @property
    def use_instance(self) -> bool:
        return not self.no_instance

    @property
    def use_features(self) -> bool:
        return bool(self.instance_feat or self.label_feat)

    def generator_config(self) -> GeneratorConfig:
        return self._config(GeneratorConfig, instance_feat=self.use_features)

    def encoder_config(self) -> EncoderConfig:
        return self._config(
            EncoderConfig, input_nc=self.output_nc, n_downsample=self.n_downsample_E
        )

    def _config(self, config_class: type[_Config], **not_options: Any) -> _Config:
        """A config_class (a dataclass) from the options named as its fields, but for those
        given."""
        named = [f.name for f in dataclasses.fields(config_class) if f.name not in not_options]
        return config_class(**{name: getattr(self, name) for name in named}, **not_options)

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
    for title, options in _OPTION_GROUPS:
        group = parser.add_argument_group(title)
        for option in options:
            _add_option(group, *option)
    return parser


class _Group(Protocol):
    """What _add_option needs of an argument group."""

    def add_argument(self, *names: str, **settings: Any) -> argparse.Action: ...


def _add_option(
    group: _Group,
    name: str,
    default: object,
    meaning: str,
    choices: Sequence[object] | None = None,
) -> None:
    """One option, of the kind its default says: False an on/off flag, an int or a float a
    number of that type, a string or None a text."""
    if default is False:
        group.add_argument(name, action="store_true", help=meaning)
    elif isinstance(default, (int, float)):
        group.add_argument(name, type=type(default), default=default, choices=choices, help=meaning)
    else:
        group.add_argument(name, default=default, choices=choices, help=meaning)


# The option groups in --help order, each with its options: (name, default, meaning) and for
# a few the choices. Public options that only steered the public code's visualisation or its
# data-parallel wrapper are accepted (the last group) so that existing scripts run, and
# otherwise ignored.
_OPTION_GROUPS: tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...] = (
    (
        "experiment",
        (
            ("--name", "label2city", "experiment name: checkpoints go to CHECKPOINTS_DIR/NAME"),
            ("--checkpoints_dir", "./checkpoints", "where models are saved"),
            ("--gpu_ids", "0", "GPU ids, e.g. 0 or 0,1; -1 for CPU (with --device auto)"),
            (
                "--device",
                "auto",
                "auto: CUDA when available and --gpu_ids is not -1",
                ["auto", "cpu", "cuda"],
            ),
            ("--seed", 0, "seed of the weights, the data order and the augmentation"),
            (
                "--num_threads",
                0,
                "torch CPU threads (0: torch's default); 1 is often fastest on a busy small "
                "machine",
            ),
            ("--fp16", False, "float16 autocast with loss scaling (CUDA only)"),
            ("--bf16", False, "bfloat16 autocast (CPU or CUDA)"),
            ("--data_type", 32, "public option; 16 means --fp16", [8, 16, 32]),
        ),
    ),
    (
        "data",
        (
            (
                "--dataroot",
                "./datasets/cityscapes/",
                "dataset root with {phase}_label/, {phase}_inst/, {phase}_img/",
            ),
            ("--phase", "train", "prefix of the data folders"),
            ("--label_nc", 35, "number of input label classes"),
            (
                "--input_nc",
                3,
                "public option; only used with --label_nc 0, which p2phd does not train",
            ),
            ("--output_nc", 3, "output image channels"),
            ("--no_instance", False, "no instance maps as input"),
            ("--batchSize", 1, "images per iteration (per process)"),
            ("--loadSize", 1024, "scale images to this size"),
            ("--fineSize", 512, "then crop to this size"),
            (
                "--resize_or_crop",
                "scale_width",
                "preprocessing of the images at load time",
                RESIZE_MODES,
            ),
            ("--no_flip", False, "no random horizontal flips"),
            ("--serial_batches", False, "take images in order, else shuffled each epoch"),
            ("--nThreads", 2, "data loader worker processes"),
            ("--max_dataset_size", float("inf"), "use at most this many images"),
            (
                "--load_features",
                False,
                "read precomputed feature maps from {phase}_feat/ instead of encoding them",
            ),
            ("--no_check", False, "skip reading every file of the data set before training"),
        ),
    ),
    (
        "generator",
        (
            ("--netG", "global", "global generator or local enhancer", ["global", "local"]),
            ("--ngf", 64, "generator filters in the first conv layer"),
            ("--n_downsample_global", 4, "downsamplings in the global generator"),
            ("--n_blocks_global", 9, "residual blocks in the global generator"),
            ("--n_blocks_local", 3, "residual blocks in each local enhancer"),
            ("--n_local_enhancers", 1, "local enhancers"),
            ("--niter_fix_global", 0, "epochs of training only the outermost local enhancer"),
            ("--norm", "instance", "normalisation (instance only)", ["instance"]),
            ("--use_dropout", False, "public option; not supported"),
        ),
    ),
    (
        "features",
        (
            (
                "--instance_feat",
                False,
                "train a feature encoder on instances; cluster its features afterwards",
            ),
            ("--label_feat", False, "public option; not supported"),
            ("--feat_num", 3, "instance feature channels"),
            ("--nef", 16, "encoder filters in the first conv layer"),
            ("--n_downsample_E", 4, "downsamplings in the encoder"),
            ("--n_clusters", 10, "k-means clusters per class"),
            ("--no_cluster", False, "do not encode and cluster features at the end"),
        ),
    ),
    (
        "discriminator and losses",
        (
            ("--num_D", 2, "discriminator scales"),
            ("--n_layers_D", 3, "layers of each discriminator"),
            ("--ndf", 64, "discriminator filters in the first conv layer"),
            ("--lambda_feat", 10.0, "weight of the feature matching and VGG losses"),
            ("--no_ganFeat_loss", False, "no discriminator feature matching loss"),
            ("--no_vgg_loss", False, "no VGG perceptual loss"),
            (
                "--vgg_weights",
                None,
                "VGG19 weights file (a torchvision vgg19 state dict); needed unless --no_vgg_loss",
            ),
            ("--no_lsgan", False, "vanilla GAN loss instead of least squares"),
            ("--pool_size", 0, "image pool of generated images (0 only)"),
        ),
    ),
    (
        "schedule",
        (
            ("--niter", 100, "epochs at the starting learning rate"),
            ("--niter_decay", 100, "epochs of linear decay to zero"),
            ("--lr", 0.0002, "Adam learning rate"),
            ("--beta1", 0.5, "Adam beta1"),
            ("--max_iters", 0, "stop (and save) after this many iterations in total; 0: no limit"),
            ("--continue_train", False, "resume from CHECKPOINTS_DIR/NAME/WHICH_EPOCH_*"),
            ("--which_epoch", "latest", "checkpoint to resume from"),
            ("--load_pretrain", "", "directory of a (global) checkpoint to start from"),
        ),
    ),
    (
        "output",
        (
            ("--display_freq", 100, "samples (in images) between sample grids"),
            ("--print_freq", 100, "samples (in images) between loss lines"),
            ("--save_latest_freq", 1000, "samples (in images) between latest checkpoints"),
            ("--save_epoch_freq", 10, "epochs between numbered checkpoints"),
            (
                "--debug",
                False,
                "one epoch over at most 10 images, printing and drawing samples every image",
            ),
            (
                "--quiet",
                False,
                "no progress or loss lines (progress: on stderr from the first iteration on)",
            ),
        ),
    ),
    (
        "accepted for the public scripts and ignored (visualisation, DataParallel, model choice)",
        (
            ("--display_winsize", None, "ignored"),
            ("--tf_log", False, "ignored"),
            ("--no_html", False, "ignored"),
            ("--verbose", False, "ignored"),
            ("--local_rank", None, "ignored"),
            ("--model", None, "ignored"),
            ("--isTrain", False, "ignored"),
        ),
    ),
)


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
