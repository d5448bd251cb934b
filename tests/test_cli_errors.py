# SPDX-License-Identifier: Apache-2.0
"""Every error a user can cause on the command line is one line on stderr, exit code 1 (at
run time) or 2 (bad usage), and never a traceback: each CLI through a table of bad calls."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2phd.cli import bench, export, preview, render, serve, synth, train
from p2phd.cli.common import BACKENDS, run_command
from p2phd.runtime.runtime import BACKENDS as RUNTIME_BACKENDS
from p2phd.train import options
from tests.train_helpers import write_scenes

CLIS: dict[str, Callable[[list[str]], int]] = {
    "render": render.main,
    "preview": preview.main,
    "synth": synth.main,
    "bench": bench.main,
    "export": export.main,
    "train": train.main,
    "serve": serve.main,
}


def invoke(main: Callable[[list[str]], int], argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as done:
        code = done.code
    return code, capsys.readouterr().err


def assert_one_line(err: str, code: int, expected: int, prog: str) -> None:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.match(rf"p2phd-{prog}( \w+)?: ", lines[0]), err
    assert code == expected, err


def _writable_by_root(path: str) -> bool:
    try:
        handle, name = tempfile.mkstemp(dir=path)
    except OSError:
        return False
    os.close(handle)
    os.unlink(name)
    return True


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody may write to: a chmod 555 folder, or /sys where the tests run as root
    (root writes through permissions)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if not _writable_by_root(str(folder)):
        yield folder
    elif Path("/sys").is_dir() and not _writable_by_root("/sys"):
        yield Path("/sys")
    else:
        pytest.skip("no read-only folder available to this user")
    folder.chmod(0o755)


def _device_node(path: Path) -> str | None:
    """A character device like /dev/null at `path` (where this user may make one), so that
    the tests that refuse device nodes never risk the real /dev/null."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (OSError, AttributeError):
        return None
    return str(path)


def _not_regular(places: dict[str, str]) -> dict[str, int]:
    return {key: os.stat(places[key]).st_mode for key in ("FIFO", "DEVICE")}


@pytest.fixture
def places(tmp_path, read_only_dir):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    a_file = tmp_path / "a-file.png"
    a_file.write_bytes(b"x")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"not really onnx")
    Path(f"{onnx}.json").write_text(json.dumps({"format": "onnx"}))  # no "config"
    labels = tmp_path / "labels.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(labels)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {
        "FIFO": str(fifo),
        "DEVICE": _device_node(tmp_path / "null") or str(fifo),
        "DEVNULL": os.devnull,  # read only: never an --out here
        "DIR": str(folder),
        "FILE": str(a_file),
        "UNDER_FILE": str(a_file / "x.png"),
        "RO": str(read_only_dir / "x.png"),
        "RO_DIR": str(read_only_dir / "scenes"),
        "NEW": str(tmp_path / "new.png"),
        "NEW_DIR": str(tmp_path / "new-dir"),
        "ONNX": str(onnx),
        "LABELS": str(labels),
    }


CUDA = torch.cuda.is_available()
BAD_CALLS = [
    # (cli, argv with placeholders, exit code)
    ("render", "--demo NEW --size 8x8", 2),
    ("render", "--demo NEW --size 15x64", 2),
    ("render", "--demo NEW --size 100000x100000", 2),
    ("render", "--demo NEW --size 16", 2),
    ("render", "--demo NEW --seed -1", 2),
    ("render", "--demo NEW --device tpu", 2),
    ("render", "--demo NEW --backend tpu", 2),
    ("render", "--demo NEW --backend onnxruntime --size 16x16", 1),
    ("render", "--demo NEW --threads 0", 2),
    ("render", "--demo NEW --backend torch --threads 2", 2),
    pytest.param(
        "render", "--demo NEW --device cuda", 1, marks=pytest.mark.skipif(CUDA, reason="")
    ),
    ("render", "--demo DIR", 2),
    ("render", "--demo UNDER_FILE", 2),
    ("render", "--demo RO --size 16x32", 1),
    ("render", "ONNX LABELS --out NEW", 1),
    ("render", "ONNX LABELS", 2),
    ("render", "ONNX LABELS --out DIR", 2),
    ("render", "ONNX LABELS --out NEW --resize 0", 2),
    ("render", "ONNX LABELS --out NEW --style car", 2),
    ("render", "ONNX NEW_DIR --out NEW", 2),
    ("render", "", 2),
    ("render", "--demo FIFO --size 16x32", 2),
    ("render", "--demo DEVICE --size 16x32", 2),
    ("render", "demo LABELS --out DEVICE", 2),
    ("render", "demo DIR --out DEVICE", 2),
    ("render", "demo DEVNULL --out NEW_DIR", 2),
    ("render", "demo DEVNULL --out NEW_DIR --ray", 2),
    ("preview", "--out DEVICE", 2),
    ("preview", "--out FIFO", 2),
    ("preview", "--out LABELS --labels LABELS", 2),
    ("export", "demo --to onnx --out DEVICE --no-verify", 2),
    ("export", "demo --to onnx --out FIFO --no-verify", 2),
    ("export", "demo --to onnx --out DIR", 2),
    ("export", "demo --to onnx --out NEW --triton-repo FILE", 2),
    ("preview", "--out DIR", 2),
    ("preview", "--out UNDER_FILE", 2),
    ("preview", "--out RO --size 16x32", 1),
    ("preview", "--out NEW --size 8x8", 2),
    ("preview", "--out NEW --labels NEW_DIR", 1),
    ("preview", "--out NEW --labels LABELS --label-nc 0", 2),
    ("synth", "FILE --count 1", 2),
    ("synth", "RO_DIR --count 1 --size 16x32 --workers 1", 1),
    ("synth", "NEW_DIR --count 1 --workers 0", 2),
    ("synth", "NEW_DIR --count 1 --workers 100000", 2),
    ("synth", "NEW_DIR --count 0", 2),
    ("synth", "NEW_DIR --count 1 --first-seed -1", 2),
    ("synth", "NEW_DIR --count 1 --size 8x8", 2),
    ("bench", "ops --runs 0", 2),
    ("bench", "ops --size 0x4", 2),
    ("bench", "render --sizes 2x2", 2),
    ("bench", "render --batches 0", 2),
    ("bench", "quality /nonexistent", 2),
    ("bench", "quality /nonexistent --seeds 5-1", 2),
    pytest.param("bench", "ops --device cuda", 1, marks=pytest.mark.skipif(CUDA, reason="")),
    ("bench", "", 2),
    ("bench", "ops --json DEVICE", 2),
    ("bench", "ops --json DIR", 2),
    ("export", "/nonexistent --to onnx --quiet", 1),
    ("export", "ONNX --to jpeg", 2),
    ("train", "--bogus", 2),
    ("train", "--dataroot NEW_DIR --device cpu --no_vgg_loss", 2),
    ("serve", "NEW_DIR --port 0", 1),
    ("serve", "--port -1", 2),
    ("serve", "--max-batch 0", 2),
    ("serve", "--max-memory-mb nan", 2),
    ("serve", "--device tpu", 2),
    ("serve", "--threads 0", 2),
    ("serve", "--backend torch --threads 2 --port 0", 2),
]


@pytest.mark.parametrize(("cli", "argv", "expected"), BAD_CALLS)
def test_bad_call_is_one_line(cli, argv, expected, places, capsys):
    args = [places.get(word, word) for word in argv.split()]
    before = _not_regular(places)
    code, err = invoke(CLIS[cli], args, capsys)
    assert_one_line(err, code, expected, cli)
    assert not Path(places["NEW"]).exists() and not Path(places["NEW_DIR"]).exists()
    assert _not_regular(places) == before  # never replaced by a regular file
    assert os.listdir(places["DIR"]) == []


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_every_cli_has_version_and_shows_defaults(cli, capsys):
    with pytest.raises(SystemExit) as done:
        CLIS[cli](["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("p2phd ")
    module = options if cli == "train" else sys.modules[CLIS[cli].__module__]
    parsers = [module.build_parser()]
    for parser in list(parsers):
        for action in parser._actions:  # the subcommands' parsers too
            if isinstance(action, argparse._SubParsersAction):
                parsers += list(action.choices.values())
    for parser in parsers:
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            default = action.default
            hidden = default is None or default is False or default in ("", [])
            if not action.option_strings or hidden or default == argparse.SUPPRESS:
                continue
            assert action.help, (parser.prog, action.dest)  # no help: no line in --help
            help_text = " ".join(action.help.split())
            if "%(default)" in help_text:
                continue
            assert f"{help_text} (default: " in text, (parser.prog, action.dest)


def test_the_clis_offer_every_backend_of_runtime_and_no_other():
    # cli.common writes the names out (a parser loads no torch); this keeps them Runtime's.
    assert sorted(BACKENDS) == sorted(RUNTIME_BACKENDS)


def test_the_real_entry_point_exits_with_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "p2phd.cli.render", "--demo", str(tmp_path / "x.png")]
        + ["--size", "16x16", "--backend", "onnxruntime"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("p2phd-render: ") and done.stderr.count("\n") == 1


def test_unexpected_errors_are_one_line_and_a_traceback_on_request(monkeypatch, capsys):
    def bug() -> int:
        raise KeyError("config")

    assert run_command("p2phd-x", bug) == 1
    assert capsys.readouterr().err == (
        "p2phd-x: unexpected KeyError: 'config' (P2PHD_TRACEBACK=1 shows where)\n"
    )
    monkeypatch.setenv("P2PHD_TRACEBACK", "1")
    with pytest.raises(KeyError):
        run_command("p2phd-x", bug)


# ---------------------------------------------------------------- p2phd-train --continue_train

TINY = (
    "--label_nc 35 --ngf 8 --ndf 8 --n_downsample_global 2 --n_blocks_global 1 --n_layers_D 2 "
    "--num_D 2 --resize_or_crop none --no_vgg_loss --device cpu --nThreads 0 --print_freq 100 "
    "--display_freq 1000 --save_latest_freq 1000 --name run"
).split()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run stopped after one iteration: latest_net_{G,D}.pth and latest_train_state.pth."""
    root = tmp_path_factory.mktemp("train")
    data = write_scenes(root / "data", 2)
    argv = ["--dataroot", str(data), "--checkpoints_dir", str(root / "ck"), *TINY]
    assert train.main([*argv, "--max_iters", "1"]) == 0
    return data, root / "ck" / "run"


def _break_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _pickled_object(path: Path) -> None:
    torch.save({"epoch": argparse.Namespace(epoch=1)}, path)


def _wrong_types(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["epoch"] = "one"
    torch.save(state, path)


def _missing_rng(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    del state["rng"]
    torch.save(state, path)


def _wrong_optimizer(path: Path) -> None:
    state = torch.load(path, weights_only=True)
    state["optimizer_D"] = {"state": {}, "param_groups": "x"}
    torch.save(state, path)


RESUME_BREAKS = {
    "empty G": ("latest_net_G.pth", lambda p: p.write_bytes(b"")),
    "cut G": ("latest_net_G.pth", _break_truncate),
    "cut D": ("latest_net_D.pth", _break_truncate),
    "G of another network": ("latest_net_G.pth", lambda p: torch.save({"w": torch.zeros(1)}, p)),
    "pickled object state": ("latest_train_state.pth", _pickled_object),
    "state of wrong types": ("latest_train_state.pth", _wrong_types),
    "state without rng": ("latest_train_state.pth", _missing_rng),
    "state of a wrong optimizer": ("latest_train_state.pth", _wrong_optimizer),
    "cut state": ("latest_train_state.pth", _break_truncate),
}


@pytest.mark.parametrize("problem", list(RESUME_BREAKS))
def test_resume_from_a_broken_checkpoint_is_one_line(trained, problem, tmp_path, capsys):
    data, run = trained
    shutil.copytree(run, tmp_path / "ck" / "run")
    name, breaker = RESUME_BREAKS[problem]
    broken = tmp_path / "ck" / "run" / name
    breaker(broken)
    argv = ["--dataroot", str(data), "--checkpoints_dir", str(tmp_path / "ck"), *TINY]
    code, err = invoke(train.main, [*argv, "--continue_train", "--max_iters", "2"], capsys)
    assert_one_line(err, code, 1, "train")
    assert str(broken) in err
