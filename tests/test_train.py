# SPDX-License-Identifier: Apache-2.0
"""The training loop on the CPU with tiny networks: a step learns, a short run lowers L1,
resuming is exact, the coarse-to-fine schedule, and the saved files load."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from p2phd import checkpoint
from p2phd.cli import train as train_cli
from p2phd.train import Trainer, VGG19Features, build_parser
from p2phd.train.trainer import LOSS_NAMES
from tests.train_helpers import tiny_options, write_scenes


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Two OpenMP threads that spin-wait on a 2-core machine shared with other work run these
    # tiny networks up to 50x slower than one thread; one thread keeps the tests fast anywhere.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("scenes"), 4)


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(VGG19Features().state_dict(), path)  # random weights, torchvision keys
    return path


def _first_batch(trainer: Trainer) -> dict:
    return next(iter(trainer.loader(1)))


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


VARIANTS = {
    "lsgan": {},
    "vanilla+vgg+features": {"no_lsgan": True, "no_vgg_loss": False, "instance_feat": True},
    "bf16+no_instance": {"bf16": True, "no_instance": True, "no_ganFeat_loss": True},
    "bf16+features": {"bf16": True, "instance_feat": True},
    "local": {"netG": "local", "ngf": 4, "n_downsample_global": 1, "batchSize": 2},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_one_step_changes_weights_and_losses_are_finite(scenes, vgg_file, tmp_path, variant):
    overrides = dict(VARIANTS[variant])
    if not overrides.get("no_vgg_loss", True):
        overrides["vgg_weights"] = str(vgg_file)
    trainer = Trainer(tiny_options(scenes, tmp_path, variant, **overrides))
    nets = {"G": trainer.netG, "D": trainer.netD}
    if trainer.netE is not None:
        nets["E"] = trainer.netE
    before = {role: _params(net) for role, net in nets.items()}
    losses = trainer.step(_first_batch(trainer))
    assert set(losses) == {*LOSS_NAMES, "G_L1"}
    assert all(math.isfinite(v) for v in losses.values()), losses
    assert losses["G_GAN"] > 0 and losses["D_real"] > 0 and losses["D_fake"] > 0
    if not overrides.get("no_ganFeat_loss"):
        assert losses["G_GAN_Feat"] > 0
    if "vgg_weights" in overrides:
        assert losses["G_VGG"] > 0
    for role, net in nets.items():
        after = net.state_dict()
        changed = [k for k in after if not torch.equal(after[k], before[role][k])]
        assert changed, f"no weight of {role} changed"


def _mean_l1(trainer: Trainer) -> float:
    """L1 between G's output and the real photo over the whole (un-augmented) data set."""
    dataset = trainer.dataset
    dataset.augment = False
    trainer.netG.eval()
    total = 0.0
    with torch.no_grad():
        for index in range(len(dataset)):
            item = dataset[index]
            batch = {k: v[None] for k, v in item.items() if isinstance(v, torch.Tensor)}
            input_label, _ = trainer.encode_input(batch)
            total += F.l1_loss(trainer.netG(input_label), batch["image"]).item()
    dataset.augment = True
    trainer.netG.train()
    return total / len(dataset)


def test_short_run_lowers_l1_to_the_targets(scenes, tmp_path):
    trainer = Trainer(tiny_options(scenes, tmp_path, "l1", max_iters=30))
    before = _mean_l1(trainer)
    result = trainer.train()
    after = _mean_l1(trainer)
    assert result.iterations == 30 and not result.finished
    assert after < 0.8 * before, (before, after)
    log = list(csv.DictReader(open(tmp_path / "l1" / "loss_log.csv")))
    assert [int(r["iteration"]) for r in log] == list(range(1, 31))
    assert int(log[-1]["epoch"]) == 8  # 4 images, batch 1: iteration 30 is in epoch 8


def _losses_by_iteration(history):
    return {row["iteration"]: {k: row[k] for k in (*LOSS_NAMES, "G_L1")} for row in history}


def test_resume_gives_the_same_next_losses(scenes, tmp_path):
    # 3 images per epoch, shuffled and flipped: the resumed run crosses an epoch boundary.
    common = dict(instance_feat=True, max_dataset_size=3, no_cluster=True)
    straight = Trainer(tiny_options(scenes, tmp_path / "a", "run", max_iters=5, **common))
    expected = _losses_by_iteration(straight.train().history)

    first = Trainer(tiny_options(scenes, tmp_path / "b", "run", max_iters=2, **common))
    assert first.train().iterations == 2
    assert (tmp_path / "b" / "run" / "latest_train_state.pth").is_file()
    resumed = Trainer(
        tiny_options(scenes, tmp_path / "b", "run", max_iters=5, continue_train=True, **common)
    )
    assert (resumed.epoch, resumed.epoch_iter, resumed.iteration) == (1, 2, 2)
    got = _losses_by_iteration(resumed.train().history)
    assert sorted(got) == [3, 4, 5]
    for iteration in (3, 4, 5):
        assert got[iteration] == expected[iteration], iteration
    for key, value in straight.netG.state_dict().items():
        assert torch.equal(value, resumed.netG.state_dict()[key]), key


def test_feature_model_writes_clusters_and_loadable_checkpoints(scenes, tmp_path):
    opts = tiny_options(scenes, tmp_path, "feat", instance_feat=True, max_iters=2, display_freq=1)
    trainer = Trainer(opts)
    result = trainer.train()
    directory = tmp_path / "feat"
    assert result.clusters == directory / "features_clustered_010.npy"
    clusters = checkpoint.load_clusters(result.clusters, feat_num=3)
    assert clusters and all(c.shape[1] == 3 and 1 <= c.shape[0] <= 10 for c in clusters.values())
    assert set(clusters) <= set(range(35))

    bundle = checkpoint.load(directory)  # config.json + weights.safetensors
    assert bundle.config == opts.generator_config()
    assert bundle.encoder is not None and bundle.clusters is not None
    assert sorted(bundle.clusters) == sorted(clusters)
    public = checkpoint.load_public(directory, label_nc=35)  # latest_net_G/E.pth
    assert public.config == opts.generator_config()
    assert public.encoder is not None and sorted(public.clusters) == sorted(clusters)
    for loaded in (bundle, public):
        for key, value in trainer.netG.state_dict().items():
            assert torch.equal(loaded.generator.state_dict()[key], value)
    for name in ("latest_net_D.pth", "iter.txt", "opt.txt", "loss_log.csv"):
        assert (directory / name).is_file(), name
    assert len(list((directory / "samples").glob("*.png"))) == 2


def test_local_enhancer_from_a_pretrained_global_generator(scenes, tmp_path):
    small = dict(max_dataset_size=2, n_downsample_global=1)
    Trainer(tiny_options(scenes, tmp_path, "global", ngf=8, max_iters=1, **small)).train()
    global_state = torch.load(tmp_path / "global" / "latest_net_G.pth", weights_only=True)

    local = dict(netG="local", ngf=4, niter_fix_global=1, **small)
    opts = tiny_options(
        scenes, tmp_path, "local", load_pretrain=str(tmp_path / "global"), max_iters=2, **local
    )
    trainer = Trainer(opts)
    shared = [k for k in trainer.netG.state_dict() if k.startswith("model.")]
    assert shared and all(
        torch.equal(trainer.netG.state_dict()[k], global_state[k]) for k in shared
    )
    enhancer = _params(trainer.netG.model1_1)
    trainer.train()  # epoch 1 = 2 images: only the enhancer learns
    state = trainer.netG.state_dict()
    assert all(torch.equal(state[k], global_state[k]) for k in shared)
    assert any(
        not torch.equal(v, enhancer[k]) for k, v in trainer.netG.model1_1.state_dict().items()
    )

    opts = tiny_options(scenes, tmp_path, "local", continue_train=True, max_iters=3, **local)
    trainer = Trainer(opts)
    assert not trainer.fixed_global
    trainer.train()  # epoch 2: the global part learns too
    state = trainer.netG.state_dict()
    assert any(not torch.equal(state[k], global_state[k]) for k in shared)


def test_learning_rate_schedule(scenes, tmp_path):
    trainer = Trainer(tiny_options(scenes, tmp_path, "lr", niter=2, niter_decay=4, lr=0.4))
    assert [trainer.lr_at(e) for e in range(1, 7)] == pytest.approx([0.4, 0.4, 0.4, 0.3, 0.2, 0.1])
    betas = trainer.optimizer_G.param_groups[0]["betas"]
    assert betas == (0.5, 0.999)


def test_cli_runs_and_documents_the_public_options(scenes, tmp_path, capsys):
    help_text = build_parser().format_help()
    public = (
        "--name --dataroot --checkpoints_dir --label_nc --no_instance --instance_feat --feat_num "
        "--netG --ngf --ndf --n_downsample_global --n_blocks_global --n_local_enhancers "
        "--n_blocks_local --niter --niter_decay --niter_fix_global --load_pretrain --loadSize "
        "--fineSize --resize_or_crop --no_flip --batchSize --no_vgg_loss --no_ganFeat_loss "
        "--no_lsgan --num_D --n_layers_D --lambda_feat --lr --beta1 --fp16 --gpu_ids "
        "--save_latest_freq --display_freq --continue_train --which_epoch --device --max_iters "
        "--vgg_weights --n_clusters --nef --n_downsample_E --print_freq --save_epoch_freq"
    ).split()
    missing = [option for option in public if option not in help_text]
    assert not missing
    argv = [
        "--dataroot", str(scenes), "--checkpoints_dir", str(tmp_path), "--name", "cli",
        "--label_nc", "35", "--ngf", "4", "--ndf", "8", "--n_downsample_global", "2",
        "--n_blocks_global", "1", "--resize_or_crop", "scale_width_and_crop",
        "--loadSize", "96", "--fineSize", "32", "--no_vgg_loss", "--device", "cpu",
        "--max_iters", "2", "--nThreads", "0", "--display_freq", "2", "--print_freq", "1",
    ]  # fmt: skip
    assert train_cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "G_GAN" in out and "stopped after 2 iterations" in out
    sample = next((tmp_path / "cli" / "samples").glob("*.png"))
    from PIL import Image

    assert Image.open(sample).size == (3 * 32, 32)
    assert np.loadtxt(tmp_path / "cli" / "iter.txt", delimiter=",").tolist() == [1, 2]


def test_vgg_loss_without_weights_is_a_clear_error(scenes, tmp_path):
    with pytest.raises(ValueError, match="--vgg_weights"):
        Trainer(tiny_options(scenes, tmp_path, "vgg", no_vgg_loss=False))
    with pytest.raises(ValueError, match="--fp16 needs CUDA"):
        Trainer(tiny_options(scenes, tmp_path, "fp16", fp16=True))


def test_torchrun_two_processes_on_the_cpu(scenes, tmp_path):
    """DistributedDataParallel over gloo: two ranks split each epoch, rank 0 writes."""
    import os
    import subprocess
    import sys

    argv = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--standalone", "-m", "p2phd.cli.train",
        "--dataroot", str(scenes), "--checkpoints_dir", str(tmp_path), "--name", "ddp",
        "--ngf", "4", "--ndf", "8", "--n_downsample_global", "2", "--n_blocks_global", "1",
        "--n_layers_D", "2", "--resize_or_crop", "none", "--no_vgg_loss", "--device", "cpu",
        "--max_iters", "3", "--nThreads", "0", "--print_freq", "1", "--num_threads", "1",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(open(tmp_path / "ddp" / "loss_log.csv")))
    # 4 images over 2 ranks: 2 iterations per epoch on each rank.
    assert [(r["epoch"], r["epoch_iter"]) for r in rows] == [("1", "1"), ("1", "2"), ("2", "1")]
    assert checkpoint.load(tmp_path / "ddp").config.ngf == 4


def test_precomputed_feature_maps_from_the_feat_folder(tmp_path):
    """--load_features: the generator takes {phase}_feat images instead of encoder output."""
    from PIL import Image

    root = write_scenes(tmp_path / "data", 2)
    (root / "train_feat").mkdir()
    for n, label in enumerate(sorted((root / "train_label").iterdir())):
        feat = np.full((64, 128, 3), 40 * n, np.uint8)
        Image.fromarray(feat).save(root / "train_feat" / label.name.replace("labelIds", "feat"))
    opts = tiny_options(root, tmp_path, "feat", instance_feat=True, load_features=True)
    trainer = Trainer(opts)
    assert trainer.netE is None
    batch = _first_batch(trainer)
    assert batch["feat"].shape == (1, 3, 64, 128)
    losses = trainer.step(batch)
    assert all(math.isfinite(v) for v in losses.values())
    assert trainer.netG.model[1].in_channels == 35 + 1 + 3


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as done:
        train_cli.main(["--help"])
    assert done.value.code == 0
    assert "--max_iters" in capsys.readouterr().out


def test_a_whole_schedule_finishes_with_epoch_checkpoints(scenes, tmp_path):
    opts = tiny_options(
        scenes, tmp_path, "full", max_dataset_size=2, niter=1, niter_decay=2, save_epoch_freq=2
    )
    result = Trainer(opts).train()
    assert result.finished and result.iterations == 6 and result.epoch == 3
    directory = tmp_path / "full"
    assert (directory / "2_net_G.pth").is_file() and (directory / "2_train_state.pth").is_file()
    assert not (directory / "1_net_G.pth").exists() and not (directory / "3_net_G.pth").exists()
    lrs = [row["lr"] for row in result.history]
    assert lrs == pytest.approx([2e-4] * 4 + [1e-4] * 2)
    assert np.loadtxt(directory / "iter.txt", delimiter=",").tolist() == [4, 0]


def test_a_failed_save_keeps_the_previous_checkpoint_whole(scenes, tmp_path, monkeypatch):
    """A checkpoint is a set (weights, training state, iter.txt): a save that fails part way
    (a full disk) leaves the previous set as it was and no temporary files."""
    trainer = Trainer(tiny_options(scenes, tmp_path, "run", max_iters=1, no_cluster=True))
    trainer.train()
    directory = tmp_path / "run"
    before = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    torch_save = torch.save

    def save_until_the_training_state(obj, handle, *args, **kwargs):
        if "train_state" in handle.name:
            handle.write(b"half a file")
            raise OSError(28, "No space left on device")
        torch_save(obj, handle, *args, **kwargs)

    trainer.iteration += 1  # something to save that differs from the files
    for net in (trainer.netG, trainer.netD):
        with torch.no_grad():
            next(net.parameters()).add_(1)
    monkeypatch.setattr(torch, "save", save_until_the_training_state)
    with pytest.raises(OSError, match="No space left"):
        trainer.save("latest")
    after = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    assert after == before
