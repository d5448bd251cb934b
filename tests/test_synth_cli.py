# SPDX-License-Identifier: Apache-2.0
"""p2phd-synth as a real subprocess: a huge --count writes from the start (scenes are queued
in bounded chunks, not all at once), Ctrl-C stops it within seconds leaving whole scenes
only, and its workers do not outlive a killed parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from p2phd.cli import synth
from p2phd.data.synthetic import synthetic_scene

HUGE = str(10**12)
FOLDERS = ("train_label", "train_inst", "train_img")


def start_synth(out: Path, log: Path, *extra: str) -> subprocess.Popen:
    """p2phd-synth in the background, its stderr (progress lines) into `log`."""
    argv = [sys.executable, "-m", "p2phd.cli.synth", str(out), "--size", "16x32", *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(log, "wb") as stderr:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, env=env)


def wait_for_scenes(process: subprocess.Popen, log: Path, scenes: int) -> None:
    """Waits until the progress lines report `scenes` scenes written."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(line.startswith(f"[{scenes}/") for line in log.read_text().splitlines()):
            return
        assert process.poll() is None, f"p2phd-synth ended early: {log.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"no {scenes} scenes written in 30 s: {log.read_text()[-500:]}")


def descendants(pid: int) -> set[int]:
    """The processes below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent has not reaped it yet


def assert_whole_scenes(out: Path) -> int:
    """Every scene written has its three files, each a whole PNG; no temporary file."""
    names = [sorted(path.name for path in (out / folder).iterdir()) for folder in FOLDERS]
    assert all(name.startswith("scene_") and name.endswith(".png") for name in names[0]), names
    assert names[0] == names[1] == names[2], names
    for folder in FOLDERS:
        for name in names[0]:
            with Image.open(out / folder / name) as image:
                image.load()
    return len(names[0])


def test_writes_whole_scenes_the_same_as_synthetic_scene(tmp_path, capsys):
    assert synth.main([str(tmp_path), "--count", "3", "--size", "16x32", "--workers", "2"]) == 0
    assert "3 of 3 scenes written" in capsys.readouterr().err
    assert assert_whole_scenes(tmp_path) == 3
    scene = synthetic_scene(2, 16, 32)
    with Image.open(tmp_path / "train_img" / "scene_000002.png") as image:
        assert np.array_equal(np.asarray(image), scene.image)


def test_a_huge_count_writes_at_once_and_ctrl_c_stops_promptly(tmp_path):
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    process = start_synth(out, log, "--count", HUGE, "--workers", "2")
    try:
        wait_for_scenes(process, log, 3)  # queueing every scene first would write none
        children = descendants(process.pid)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
        err = log.read_text()
    finally:
        process.kill()
        process.wait()
    assert code == 130, err
    assert err.strip().splitlines()[-1] == "p2phd-synth: interrupted", err
    assert "Traceback" not in err
    assert assert_whole_scenes(out) >= 3
    time.sleep(0.5)
    assert not [pid for pid in children if running(pid)]


def test_workers_end_with_a_killed_parent(tmp_path):
    log = tmp_path / "stderr.txt"
    process = start_synth(tmp_path / "out", log, "--count", HUGE, "--workers", "2")
    try:
        wait_for_scenes(process, log, 2)
        children = descendants(process.pid)
        assert len(children) >= 2, children
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(running(pid) for pid in children):
            time.sleep(0.1)
        left = [pid for pid in children if running(pid)]
    finally:
        process.kill()
        process.wait()
    for pid in left:  # do not leave them behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent"
