# SPDX-License-Identifier: Apache-2.0
"""The training data of a run: the samples of --dataroot, checked (unless --no_check) and
preprocessed as the options say, and each epoch's loader over this rank's share."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .dataset import (
    DatasetError,
    PairedDataset,
    Preprocess,
    Sample,
    check_samples,
    epoch_order,
    find_samples,
)
from .options import TrainOptions


def training_data(
    opts: TrainOptions, stride: int, log: Callable[[str], None]
) -> tuple[list[Sample], Preprocess]:
    """The samples and their preprocessing; DatasetError for a data set that does not fit."""
    samples = find_samples(
        opts.dataroot,
        opts.phase,
        use_instance=opts.use_instance,
        load_features=opts.load_features,
        max_dataset_size=opts.max_dataset_size,
    )
    preprocess = Preprocess(
        resize_or_crop=opts.resize_or_crop,
        loadSize=opts.loadSize,
        fineSize=opts.fineSize,
        flip=not opts.no_flip,
        stride=stride,
    )
    if not opts.no_check:
        log(f"checking {len(samples)} training samples in {opts.dataroot} ...")
        sizes = check_samples(
            samples,
            opts.label_nc,
            check_instance_classes=opts.instance_feat,
            preprocess=preprocess,
        )
        if opts.batchSize > 1 and len(sizes) > 1:
            raise DatasetError(
                f"--batchSize {opts.batchSize} needs one image size after preprocessing, "
                f"got {len(sizes)}: {sorted(sizes)[:4]}; use a crop mode or batchSize 1"
            )
    return samples, preprocess


def epoch_loader(
    dataset: PairedDataset,
    opts: TrainOptions,
    epoch: int,
    skip: int,
    *,
    rank: int,
    world_size: int,
    pin_memory: bool,
) -> torch.utils.data.DataLoader:
    """This rank's batches of `epoch`, less the first `skip` images (a resumed run)."""
    dataset.set_epoch(epoch)
    order = epoch_order(
        len(dataset),
        epoch,
        seed=opts.seed,
        shuffle=not opts.serial_batches,
        rank=rank,
        world_size=world_size,
    )
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=opts.batchSize,
        sampler=order[skip:],
        num_workers=opts.nThreads,
        pin_memory=pin_memory,
    )
