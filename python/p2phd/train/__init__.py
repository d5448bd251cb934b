# SPDX-License-Identifier: Apache-2.0
"""Training pix2pixHD: data sets in the public layout, losses, the training loop, and the
feature encoding + k-means that writes `features_clustered_NNN.npy`.

    from p2phd.train import Trainer, make_options
    result = Trainer(make_options(dataroot="datasets/cityscapes", name="demo")).train()

`p2phd-train` is the same thing on the command line, with the public option names.
"""

from .dataset import DatasetError, PairedDataset, Preprocess, Sample, check_samples, find_samples
from .features import cluster_features, encode_instances, kmeans
from .losses import GANLoss, VGG19Features, VGGLoss, feature_matching_loss, load_vgg19
from .options import TrainOptions, build_parser, make_options, parse_options
from .trainer import Trainer, TrainResult, run

__all__ = [
    "DatasetError",
    "GANLoss",
    "PairedDataset",
    "Preprocess",
    "Sample",
    "TrainOptions",
    "TrainResult",
    "Trainer",
    "VGG19Features",
    "VGGLoss",
    "build_parser",
    "check_samples",
    "cluster_features",
    "encode_instances",
    "feature_matching_loss",
    "find_samples",
    "kmeans",
    "load_vgg19",
    "make_options",
    "parse_options",
    "run",
]
