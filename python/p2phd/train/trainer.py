# SPDX-License-Identifier: Apache-2.0
"""The pix2pixHD training loop (the public train.py + Pix2PixHDModel), on one process or
under torchrun with DistributedDataParallel.

One iteration: G renders the batch; D sees (label, fake) and (label, real) in one batched
pass; the generator loss (GAN + feature matching + VGG) updates G (and E), then the
discriminator loss updates D, all from the same forward pass, as in the public code.
Counters follow the public code: `epoch` from 1, `epoch_iter` and `total_steps` in images,
the *_freq options in images; `iteration` counts optimizer steps (for --max_iters).

This module is the schedule; it composes placement (rank, device), loading (data),
networks (G/D/E, optimizers), step (one iteration), checkpoints and resume (saving and
loading the state), records (loss log, samples) and features (the k-means clusters).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from p2phd.atomic import remove_dead_temporaries
from p2phd.checkpoint import LoadedModel, save_clusters

from .checkpoints import (
    checkpoint_error,
    training_state,
    write_bundle,
    write_checkpoint,
)
from .dataset import (
    PairedDataset,
)
from .features import cluster_training_set
from .loading import epoch_loader, training_data
from .losses import GANLoss, VGGLoss, load_vgg19
from .networks import (
    adam,
    build_networks,
    check_buildable,
    g_parameters,
    load_pretrain,
    scheduled_lr,
    wrap_distributed,
)
from .options import TrainOptions, format_options
from .placement import place
from .progress import Position, TrainProgress, schedule_position
from .records import append_csv_row, loss_line, write_sample
from .resume import load_checkpoint, nothing_left, restore_training_state
from .step import LOSS_NAMES, encode_input, gan_losses, generator_input, loss_values, update

# LOSS_NAMES: the names of the loss lines, importable from here as before the split.
__all__ = ["LOSS_NAMES", "TrainResult", "Trainer", "run"]


@dataclass
class TrainResult:
    directory: Path
    iterations: int
    epoch: int
    finished: bool  # all epochs done (False when stopped by --max_iters)
    history: list[dict[str, float]] = field(default_factory=list)
    clusters: Path | None = None
    bundle: Path | None = None


class Trainer:
    """Builds data, networks and optimizers from options; `train()` runs the schedule.

    Example::

        from p2phd.train import Trainer, make_options
        opts = make_options(dataroot="data", name="demo", label_nc=35, ngf=8, ndf=8,
                            n_downsample_global=2, n_blocks_global=1, loadSize=128,
                            fineSize=64, resize_or_crop="none", no_vgg_loss=True,
                            device="cpu", max_iters=100)
        result = Trainer(opts).train()
    """

    def __init__(
        self,
        opts: TrainOptions,
        *,
        log: Callable[[str], None] | None = None,
        progress: TrainProgress | None = None,
    ) -> None:
        """`log` prints messages and loss lines (default: stdout); `progress` shows where
        the run stands after each iteration (default: on stderr unless --quiet; rank 0)."""
        self.opts = opts
        self._setup_distributed()
        self._log = log or (lambda text: print(text, flush=True))
        if progress is None and not opts.quiet:
            progress = TrainProgress()
        self.progress = progress if self.rank == 0 else None
        self.dir = Path(opts.checkpoints_dir) / opts.name
        self.config = opts.generator_config()
        self.stride = opts.stride
        self.history: list[dict[str, float]] = []
        self._check_options()
        self._build_data()
        self._build_networks()
        self.epoch, self.epoch_iter, self.total_steps, self.iteration = 1, 0, 0, 0
        self.fixed_global = opts.niter_fix_global > 0
        resumed = None
        if opts.continue_train:
            nets = {"G": self.netG, "D": self.netD, "E": self.netE}
            resumed = load_checkpoint(self.dir, opts.which_epoch, nets, self.log)
            self.epoch, self.epoch_iter = resumed.epoch, resumed.epoch_iter
            if resumed.state is not None:
                self.fixed_global = resumed.state["fixed_global"]
            if self.epoch_iter >= self.epoch_length():  # saved at the very end of an epoch
                self.epoch, self.epoch_iter = self.epoch + 1, 0
        elif opts.load_pretrain:
            self._load_pretrain(Path(opts.load_pretrain))
        saved_fixed = self.fixed_global
        if self.fixed_global and self.epoch > opts.niter_fix_global:
            self.fixed_global = False
        self._build_optimizers()
        if resumed is not None and resumed.state is not None:
            self.total_steps = resumed.state["total_steps"]
            self.iteration = resumed.state["iteration"]
            # Past --niter_fix_global G gets a fresh optimizer, as at the public switch.
            restore_training_state(
                resumed,
                optimizer_g=self.optimizer_G if saved_fixed == self.fixed_global else None,
                optimizer_d=self.optimizer_D,
                scaler=self.scaler,
                device=self.device,
            )
        self._wrap_distributed()

    # ---------------------------------------------------------------- setup

    def log(self, text: str) -> None:
        if self.rank == 0:
            if self.progress is not None:
                self.progress.clear()
            self._log(text)

    def _setup_distributed(self) -> None:
        placement = place(self.opts)
        self.world_size, self.rank = placement.world_size, placement.rank
        self.local_rank, self.device = placement.local_rank, placement.device
        self.distributed = placement.distributed
        self.amp_dtype, self.ops_on_device = placement.amp_dtype, placement.ops_on_device

    def _check_options(self) -> None:
        check_buildable(self.opts, self.stride, ops_on_device=self.ops_on_device)

    def _build_data(self) -> None:
        self.samples, self.preprocess = training_data(self.opts, self.stride, self.log)
        self.dataset = PairedDataset(self.samples, self.preprocess, seed=self.opts.seed)

    def _build_networks(self) -> None:
        opts = self.opts
        self.netG, self.netD, self.netE = build_networks(opts, self.config, self.device)
        self.gan_loss = GANLoss(use_lsgan=not opts.no_lsgan)
        self.vgg_loss = None
        if not opts.no_vgg_loss:
            self.vgg_loss = VGGLoss(load_vgg19(opts.vgg_weights)).to(self.device)

    def _g_parameters(self) -> list[nn.Parameter]:
        return g_parameters(self.netG, self.netE, self.opts.n_local_enhancers, self.fixed_global)

    def _build_optimizers(self) -> None:
        opts = self.opts
        lr = self.lr_at(self.epoch)
        self.optimizer_G = adam(self._g_parameters(), lr, opts.beta1)
        self.optimizer_D = adam(list(self.netD.parameters()), lr, opts.beta1)
        self.scaler = torch.amp.GradScaler("cuda", enabled=bool(opts.fp16))

    def _wrap_distributed(self) -> None:
        self.trainG: nn.Module = self.netG
        self.trainD: nn.Module = self.netD
        self.trainE: nn.Module | None = self.netE
        if self.distributed:
            nets = (self.netG, self.netD, self.netE)
            self.trainG, self.trainD, self.trainE = wrap_distributed(nets, self.device)

    def lr_at(self, epoch: int) -> float:
        """Constant for niter epochs, then minus lr / niter_decay after each further epoch."""
        return scheduled_lr(self.opts, epoch)

    # ---------------------------------------------------------------- checkpoints

    def _load_pretrain(self, directory: Path) -> None:
        nets = {"G": self.netG, "D": self.netD, "E": self.netE}
        load_pretrain(directory, self.opts.which_epoch, nets, self.log)

    def save(self, which: str = "latest") -> None:
        """Public files `<which>_net_{G,D,E}.pth` + iter.txt, our `<which>_train_state.pth`
        (optimizers, counters, RNG: an exact resume) and, for 'latest', the bundle."""
        if self.rank != 0:
            return
        train_state = training_state(
            counters=(self.epoch, self.epoch_iter, self.total_steps, self.iteration),
            fixed_global=self.fixed_global,
            optimizers=(self.optimizer_G, self.optimizer_D),
            scaler=self.scaler,
            device=self.device,
        )
        nets = {"G": self.netG, "D": self.netD, "E": self.netE}
        try:
            write_checkpoint(self.dir, which, nets, train_state, (self.epoch, self.epoch_iter))
            if which == "latest":
                self.save_bundle()
        except OSError as error:
            raise checkpoint_error(error, self.dir) from error

    def loaded_model(self, clusters: dict[int, np.ndarray] | None = None) -> LoadedModel:
        return LoadedModel(
            config=self.config,
            generator=self.netG,
            encoder=self.netE,
            encoder_config=self.opts.encoder_config() if self.netE is not None else None,
            clusters=clusters,
        )

    def save_bundle(self, clusters: dict[int, np.ndarray] | None = None) -> Path:
        return write_bundle(self.loaded_model(clusters), self.dir)

    # ---------------------------------------------------------------- one iteration

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def encode_input(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One-hot labels + instance edges (N x C x H x W float32) and the instance map."""
        return encode_input(
            batch,
            self.device,
            ops_on_device=self.ops_on_device,
            use_instance=self.opts.use_instance,
            label_nc=self.opts.label_nc,
        )

    def step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One generator update and one discriminator update; returns the losses."""
        opts = self.opts
        input_label, instances = self.encode_input(batch)
        real = batch["image"].to(self.device, non_blocking=True)
        with self._autocast():
            g_input = generator_input(opts, batch, input_label, instances, real, self.trainE)
            fake = self.trainG(g_input)
            losses = gan_losses(
                opts,
                train_d=self.trainD,
                net_d=self.netD,
                gan_loss=self.gan_loss,
                vgg_loss=self.vgg_loss,
                input_label=input_label,
                fake=fake,
                real=real,
            )
        update(losses, self.scaler, self.optimizer_G, self.optimizer_D)
        self._last = (batch, fake.detach())
        return loss_values(losses, fake, real)

    # ---------------------------------------------------------------- output

    def save_samples(self) -> Path:
        """label | generated | real of the last batch's first image, as one PNG."""
        batch, fake = self._last
        path = self.dir / "samples" / f"epoch{self.epoch:03d}_iter{self.iteration:08d}.png"
        return write_sample(path, batch, fake, self.opts.label_nc)

    @staticmethod
    def _crossed(count: int, step: int, freq: int) -> bool:
        return freq > 0 and count // freq > (count - step) // freq

    # ---------------------------------------------------------------- the schedule

    def loader(self, epoch: int, skip: int = 0) -> torch.utils.data.DataLoader:
        """This rank's batches of `epoch` as the training loop reads them, less the first `skip`
        images (a resumed run)."""
        return epoch_loader(
            self.dataset,
            self.opts,
            epoch,
            skip,
            rank=self.rank,
            world_size=self.world_size,
            pin_memory=self.device.type == "cuda",
        )

    def _set_lr(self, lr: float) -> None:
        for optimizer in (self.optimizer_G, self.optimizer_D):
            for group in optimizer.param_groups:
                group["lr"] = lr

    def _unfix_global(self) -> None:
        """Public `update_fixed_params`: from now on train all of G, with a fresh optimizer."""
        self.fixed_global = False
        lr = self.optimizer_G.param_groups[0]["lr"]
        self.optimizer_G = adam(self._g_parameters(), lr, self.opts.beta1)
        if self.distributed:
            self._wrap_distributed()
        self.log("------------ now also training the global generator ------------")

    def _nothing_to_train(self, last_epoch: int) -> TrainResult | None:
        """The result of a resumed run at or past its end (it says so): not one more step,
        no file rewritten; None when there is something to train."""
        reason = nothing_left(self.epoch, last_epoch, self.iteration, self.opts.max_iters)
        if reason is None:
            return None
        self.log(f"{reason} already; nothing to train")
        return TrainResult(
            directory=self.dir,
            iterations=self.iteration,
            epoch=min(self.epoch, last_epoch),
            finished=self.epoch > last_epoch,
            bundle=self.dir if self.rank == 0 else None,
        )

    def train(self) -> TrainResult:
        opts = self.opts
        last_epoch = opts.niter + opts.niter_decay
        nothing = self._nothing_to_train(last_epoch)
        if nothing is not None:
            return nothing
        if self.rank == 0:
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "opt.txt").write_text(format_options(opts))
            # What a killed run left half-saved (an epoch's checkpoint is not saved again).
            for folder in (self.dir, self.dir / "samples"):
                remove_dead_temporaries(folder)
        stopped = False
        tick = start = time.perf_counter()
        iterations_at_start = self.iteration
        while self.epoch <= last_epoch and not stopped:
            epoch = self.epoch
            self._set_lr(self.lr_at(epoch))
            skip = self.epoch_iter  # images of this epoch already seen (a resumed run)
            for batch in self.loader(epoch, skip):
                losses = self.step(batch)
                n = int(batch["label"].shape[0])
                self.iteration += 1
                self.epoch_iter += n
                self.total_steps += n
                now = time.perf_counter()
                seconds, tick = now - tick, now
                if self.progress is not None:
                    mean = (now - start) / (self.iteration - iterations_at_start)
                    self.progress.update(self._position(last_epoch, mean))
                if self._crossed(self.total_steps, n, opts.print_freq):
                    self._record_losses(epoch, seconds, losses)
                if self._crossed(self.total_steps, n, opts.display_freq) and self.rank == 0:
                    self.save_samples()
                if opts.max_iters and self.iteration >= opts.max_iters:
                    stopped = True
                    break
                if self._crossed(self.total_steps, n, opts.save_latest_freq):
                    self.log(
                        f"saving the latest model (epoch {epoch}, total_steps {self.total_steps})"
                    )
                    self.save("latest")
            if stopped:
                break
            self._end_epoch(epoch)
            self.epoch, self.epoch_iter = epoch + 1, 0
        if self.progress is not None:
            self.progress.finish()
        self.save("latest")
        result = TrainResult(
            directory=self.dir,
            iterations=self.iteration,
            epoch=min(self.epoch, last_epoch),
            finished=not stopped,
            history=self.history,
        )
        if self.netE is not None and not opts.no_cluster:
            result.clusters = self.cluster()
        result.bundle = self.dir if self.rank == 0 else None
        if self.distributed:
            torch.distributed.barrier()
        return result

    def _record_losses(self, epoch: int, seconds: float, losses: dict[str, float]) -> None:
        """A row of the history and loss_log.csv, and a loss line unless --quiet."""
        row = {
            "epoch": epoch,
            "epoch_iter": self.epoch_iter,
            "iteration": self.iteration,
            "total_steps": self.total_steps,
            "lr": self.optimizer_G.param_groups[0]["lr"],
            "sec_per_iter": seconds,
            **losses,
        }
        self.history.append(row)
        if self.rank == 0:
            append_csv_row(self.dir / "loss_log.csv", row)
            if not self.opts.quiet:
                self.log(loss_line(epoch, self.epoch_iter, self.iteration, seconds, losses))

    def _position(self, last_epoch: int, seconds_per_iteration: float) -> Position:
        return schedule_position(
            epoch=self.epoch,
            last_epoch=last_epoch,
            epoch_iter=self.epoch_iter,
            per_epoch=self.epoch_length(),
            batch_size=self.opts.batchSize,
            iteration=self.iteration,
            max_iters=self.opts.max_iters,
            seconds_per_iteration=seconds_per_iteration,
        )

    def epoch_length(self) -> int:
        """Images this process sees per epoch."""
        n, world = len(self.dataset), self.world_size
        return -(-n // world) if world > 1 else n

    def _end_epoch(self, epoch: int) -> None:
        opts = self.opts
        if opts.save_epoch_freq > 0 and epoch % opts.save_epoch_freq == 0:
            self.log(f"saving the model at the end of epoch {epoch}")
            self.save("latest")
            self.save(str(epoch))
        if self.fixed_global and epoch == opts.niter_fix_global:
            self._unfix_global()

    # ---------------------------------------------------------------- features

    @torch.no_grad()
    def cluster(self) -> Path | None:
        """Encode every training instance, k-means per class, write features_clustered_NNN.npy
        and the bundle with the clusters (rank 0; the others wait)."""
        if self.rank != 0:
            return None
        assert self.netE is not None
        self.log(f"encoding the instances of {len(self.samples)} training images ...")
        clusters = cluster_training_set(
            self.netE,
            self.samples,
            self.preprocess,
            self.device,
            n_clusters=self.opts.n_clusters,
            seed=self.opts.seed,
        )
        path = save_clusters(
            self.dir / f"features_clustered_{self.opts.n_clusters:03d}.npy", clusters
        )
        self.save_bundle(clusters)
        self.log(f"clustered the features of {len(clusters)} classes into {path}")
        return path


def run(opts: TrainOptions) -> TrainResult:
    """Train with these options (what p2phd-train does)."""
    trainer = Trainer(opts)
    try:
        return trainer.train()
    finally:
        if trainer.progress is not None:
            trainer.progress.finish()  # ends a bar line cut short (Ctrl-C, an error)
        if trainer.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
