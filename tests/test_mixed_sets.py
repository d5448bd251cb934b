# SPDX-License-Identifier: Apache-2.0
"""Files written together (an export's artifact + sidecar, a training checkpoint's weights +
state + iter.txt) are refused as a mixed set when a kill between their renames leaves some
new and some old, and the next save removes what the killed one left (issue 24). The kill
comes from a rename hook that ends the process, not from a timed signal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import p2phd
from p2phd import checkpoint
from p2phd.cli import render, train
from p2phd.export import export
from p2phd.runtime import Runtime
from p2phd.sidecar import SidecarError
from tests.export_helpers import GLOBAL, tiny
from tests.train_helpers import write_scenes

PACKAGE_ROOT = Path(p2phd.__file__).resolve().parents[1]

# Runs a p2phd command (`module.main(argv)`) that ends the process right after the rename of
# the file named KILL_AFTER, the way a SIGKILL between two renames would.
_KILLED_COMMAND = r"""
import os, sys
from pathlib import Path
from p2phd import atomic

module, kill_after, *argv = sys.argv[1:]

def end_here(target: Path) -> None:
    if target.name == kill_after:
        os._exit(137)

atomic.set_rename_hook(end_here)
main = __import__(f"p2phd.cli.{module}", fromlist=["main"]).main
sys.exit(main(argv))
"""


def _killed(module: str, kill_after: str, argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_COMMAND, module, kill_after, *argv],
        capture_output=True,
        text=True,
        cwd=PACKAGE_ROOT,
        timeout=300,
    )
    assert done.returncode == 137, done.stderr[-2000:]


def _leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def test_an_export_killed_between_its_renames_is_refused_as_mixed(tmp_path, capsys) -> None:
    pytest.importorskip("onnxruntime")
    first, second = tmp_path / "first", tmp_path / "second"
    checkpoint.save_bundle(tiny(GLOBAL, seed=0), first)
    checkpoint.save_bundle(tiny(GLOBAL, seed=1), second)
    out = tmp_path / "out" / "model.onnx"
    options = {"to": "onnx", "size": (32, 64), "verify": False}
    export(first, out=out, **options)
    argv = [str(second), "--to", "onnx", "--size", "32x64", "--no-verify", "--out", str(out)]
    _killed("export", "model.onnx", argv)  # the new ONNX beside the old sidecar
    assert _leftovers(out.parent)  # the new sidecar, never renamed
    with pytest.raises(SidecarError, match="mixed set"):
        Runtime(out)
    labels = tmp_path / "labels.png"
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((32, 64), np.uint8)).save(labels)
    code = render.main([str(out), str(labels), "--out", str(tmp_path / "image.png")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1 and "mixed set" in err, err
    export(second, out=out, **options)  # the next save cleans up
    assert _leftovers(out.parent) == []
    Runtime(out)


TRAIN = (
    "--label_nc 35 --ngf 8 --ndf 8 --n_downsample_global 2 --n_blocks_global 1 --n_layers_D 2 "
    "--num_D 2 --resize_or_crop none --no_vgg_loss --device cpu --nThreads 0 --print_freq 100 "
    "--display_freq 1000 --save_latest_freq 1000 --name run"
).split()


@pytest.mark.parametrize("kill_after", ["latest_train_state.pth", "latest_net_G.pth"])
def test_a_checkpoint_save_killed_between_its_renames_is_refused_on_resume(
    tmp_path, kill_after, capsys
) -> None:
    data = write_scenes(tmp_path / "data", 2)
    argv = ["--dataroot", str(data), "--checkpoints_dir", str(tmp_path / "ck"), *TRAIN]
    assert train.main([*argv, "--max_iters", "1"]) == 0
    _killed("train", kill_after, [*argv, "--continue_train", "--max_iters", "2"])
    run = tmp_path / "ck" / "run"
    assert _leftovers(run)
    capsys.readouterr()
    assert train.main([*argv, "--continue_train", "--max_iters", "3"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "mixed set" in err, err
    assert train.main([*argv, "--max_iters", "1"]) == 0  # a new run: its save cleans up
    assert _leftovers(run) == []
    assert train.main([*argv, "--continue_train", "--max_iters", "2"]) == 0
