# SPDX-License-Identifier: Apache-2.0
"""p2phd-train as a user meets it: every numeric option checked by name, a resume at or past
--max_iters trains nothing, a full disk during a save is one clear line with the previous
checkpoint kept, and progress shows from the first iteration."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from p2phd.cli import train as train_cli
from p2phd.train import Trainer
from p2phd.train import checkpoints as checkpoints_module
from p2phd.train.progress import TrainProgress
from tests.train_helpers import tiny_options, write_scenes

# Flags for a network that trains an iteration in well under a second on a busy CPU.
TINY_FLAGS = (
    "--label_nc 35 --ngf 4 --ndf 4 --n_downsample_global 2 --n_blocks_global 1 --n_layers_D 1 "
    "--num_D 1 --resize_or_crop none --no_vgg_loss --device cpu --nThreads 0 --num_threads 1 "
    "--display_freq 1000 --save_latest_freq 1000"
).split()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("scenes"), 2)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cli_args(scenes: Path, checkpoints: Path, *extra: str) -> list[str]:
    where = ["--dataroot", str(scenes), "--checkpoints_dir", str(checkpoints), "--name", "run"]
    return [*where, *TINY_FLAGS, *extra]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = train_cli.main(argv)
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


BAD_NUMBERS = [
    ("--seed", "-1"),
    ("--gpu_ids", "0,x"),
    ("--seed", str(2**64)),
    ("--num_threads", "-1"),
    ("--nThreads", "-1"),
    ("--max_dataset_size", "0"),
    ("--max_dataset_size", "nan"),
    ("--input_nc", "0"),
    ("--output_nc", "0"),
    ("--ngf", "0"),
    ("--n_downsample_global", "-1"),
    ("--n_blocks_global", "-1"),
    ("--n_blocks_local", "-1"),
    ("--n_local_enhancers", "-1"),
    ("--niter_fix_global", "-1"),
    ("--feat_num", "0"),
    ("--nef", "0"),
    ("--n_downsample_E", "-1"),
    ("--n_clusters", "0"),
    ("--lambda_feat", "-1"),
    ("--lambda_feat", "nan"),
    ("--lr", "-0.1"),
    ("--lr", "inf"),
    ("--beta1", "1"),
    ("--beta1", "-0.5"),
    ("--niter", "-1"),
    ("--max_iters", "-1"),
    ("--display_freq", "-1"),
    ("--print_freq", "-1"),
    ("--save_latest_freq", "-1"),
    ("--save_epoch_freq", "-1"),
]


@pytest.mark.parametrize(("option", "value"), BAD_NUMBERS)
def test_a_numeric_option_out_of_range_is_named_and_exits_2(option, value, tmp_path, capsys):
    code, _, err = run_cli(cli_args(tmp_path / "none", tmp_path, option, value), capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("p2phd-train: error: "), err
    assert option in lines[0], err
    assert not (tmp_path / "run").exists()


def test_resuming_at_or_past_max_iters_trains_nothing_and_says_so(scenes, tmp_path, capsys):
    assert run_cli(cli_args(scenes, tmp_path, "--max_iters", "2"), capsys)[0] == 0
    directory = tmp_path / "run"
    saved = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    for max_iters in ("2", "1"):
        argv = cli_args(scenes, tmp_path, "--continue_train", "--max_iters", max_iters)
        code, out, err = run_cli(argv, capsys)
        assert code == 0, err
        assert f"--max_iters {max_iters}" in out and "nothing to train" in out, out
        assert "stopped after 2 iterations" in out, out
        now = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
        assert now == saved  # not one more step, nothing rewritten

    # One past the checkpoint trains exactly one more.
    argv = cli_args(scenes, tmp_path, "--continue_train", "--max_iters", "3")
    code, out, err = run_cli(argv, capsys)
    assert code == 0 and "stopped after 3 iterations" in out, err


def test_resuming_a_finished_schedule_trains_nothing_and_says_so(scenes, tmp_path, capsys):
    schedule = ("--niter", "1", "--niter_decay", "1", "--max_dataset_size", "1")
    code, out, err = run_cli(cli_args(scenes, tmp_path, *schedule), capsys)
    assert code == 0 and "finished after 2 iterations" in out, err
    directory = tmp_path / "run"
    saved = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    code, out, err = run_cli(cli_args(scenes, tmp_path, *schedule, "--continue_train"), capsys)
    assert code == 0, err
    assert "all 2 epochs" in out and "nothing to train" in out, out
    assert "finished after 2 iterations" in out, out
    now = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    assert now == saved


def open_full_for_the_state(path, mode="r", *args, **kwargs):
    """open(), except that the training state is written to /dev/full: the kernel answers
    ENOSPC to its writes, as a full disk does (opening the device never replaces it)."""
    if "train_state" in str(path) and "w" in mode:
        return open("/dev/full", mode, *args, **kwargs)
    return open(path, mode, *args, **kwargs)


def safetensors_on_a_full_disk(*args, **kwargs):
    """What safetensors' save_file raises when the disk is full."""
    from safetensors import SafetensorError

    raise SafetensorError(
        "Error while serializing: I/O error: No space left on device (os error 28)"
    )


@pytest.mark.parametrize("member", ["training state", "bundle"])
def test_a_full_disk_during_a_save_is_one_line_and_keeps_the_checkpoint(
    member, scenes, tmp_path, capsys, monkeypatch
):
    assert run_cli(cli_args(scenes, tmp_path, "--max_iters", "1"), capsys)[0] == 0
    directory = tmp_path / "run"
    saved = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    if member == "training state":
        monkeypatch.setattr(checkpoints_module, "open", open_full_for_the_state, raising=False)
    else:
        monkeypatch.setattr("safetensors.torch.save_file", safetensors_on_a_full_disk)
    argv = cli_args(scenes, tmp_path, "--continue_train", "--max_iters", "2", "--quiet")
    code, _, err = run_cli(argv, capsys)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("p2phd-train: "), err
    assert "no space left on device" in lines[0].lower() and str(directory) in lines[0], err
    assert "inline_container" not in err and "unexpected" not in err
    now = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    assert now.keys() == saved.keys()
    # The set that failed is as before; a bundle that failed leaves the new .pth set.
    kept = ("config.json", "weights.safetensors")
    if member == "training state":
        kept += ("latest_net_G.pth", "latest_net_D.pth", "latest_train_state.pth", "iter.txt")
    for name in kept:
        assert now[name] == saved[name], f"{name} changed"
    assert not [path.name for path in directory.iterdir() if path.name.endswith(".tmp")]


def test_the_first_iteration_shows_progress_in_a_pipe(scenes, tmp_path):
    """With --print_freq far away (no loss line), a line per iteration comes through a pipe
    as plain text, the first one before the second iteration starts."""
    argv = [sys.executable, "-m", "p2phd.cli.train"]
    argv += cli_args(scenes, tmp_path, "--max_iters", "2", "--print_freq", "100")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "G_GAN" not in done.stdout  # --print_freq 100: no loss line
    lines = done.stderr.splitlines()
    progress = [line for line in lines if re.match(r"epoch \d+/\d+, image", line)]
    assert progress and "iteration 1/2" in progress[0], done.stderr
    assert any("iteration 2/2" in line for line in progress), done.stderr
    assert "\r" not in done.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_is_one_redrawn_bar(scenes, tmp_path):
    stream = Terminal()
    progress = TrainProgress(stream=stream, interval=0.0)
    trainer = Trainer(tiny_options(scenes, tmp_path, "bar", max_iters=3), progress=progress)
    trainer.train()
    text = stream.getvalue()
    assert text.count("\r") >= 3 and "|" in text and "iteration 3/3" in text
    assert text.endswith("\n") and text.count("\n") == 1, text
