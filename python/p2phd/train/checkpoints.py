# SPDX-License-Identifier: Apache-2.0
"""Writing a training checkpoint: the public `<which>_net_{G,D,E}.pth` + iter.txt, our
`<which>_train_state.pth` (optimizers, counters, RNG: an exact resume) and the bundle, each
set renamed together, every failed write an OSError that names the directory."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from p2phd.atomic import atomic_paths
from p2phd.checkpoint import LoadedModel, save_bundle

from .resume import SET_DIGESTS, set_digests


def checkpoint_path(directory: Path, which: str, what: str) -> Path:
    return directory / f"{which}_{what}"


def save_torch_file(content: Any, path: Path) -> None:
    # Through a Python file: a full disk is an OSError (ENOSPC), where torch.save(path)
    # reports only "enforce fail at inline_container.cc".
    with open(path, "wb") as handle:
        torch.save(content, handle)


def numpy_rng_state() -> tuple[str, torch.Tensor, int, int, float]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)


def rng_state(device: torch.device) -> dict[str, Any]:
    """The Python, numpy, torch (and CUDA) generators, as a train_state stores them."""
    return {
        "python": random.getstate(),
        "numpy": numpy_rng_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }


def training_state(
    *,
    counters: tuple[int, int, int, int],
    fixed_global: bool,
    optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer],
    scaler: torch.amp.GradScaler,
    device: torch.device,
) -> dict[str, Any]:
    """The train_state of (epoch, epoch_iter, total_steps, iteration), optimizers (G, D),
    scaler and random generators: what resume.check_train_state accepts."""
    epoch, epoch_iter, total_steps, iteration = counters
    optimizer_g, optimizer_d = optimizers
    return {
        "epoch": epoch,
        "epoch_iter": epoch_iter,
        "total_steps": total_steps,
        "iteration": iteration,
        "fixed_global": fixed_global,
        "optimizer_G": optimizer_g.state_dict(),
        "optimizer_D": optimizer_d.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng_state(device),
    }


def write_checkpoint(
    directory: Path,
    which: str,
    nets: Mapping[str, nn.Module | None],
    train_state: dict[str, Any],
    iter_txt: tuple[int, int],
) -> None:
    """The weights of `nets` {role: net}, `train_state` and iter.txt (epoch, epoch_iter)."""
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[Path, Any] = {}
    for role, net in nets.items():
        if net is not None:
            state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
            files[checkpoint_path(directory, which, f"net_{role}.pth")] = state
    # One set, renamed together: the state (first) records the digest of each weights
    # file, so that a set mixed by a kill between the renames is refused on resume.
    state_path = checkpoint_path(directory, which, "train_state.pth")
    targets = (state_path, *files, directory / "iter.txt")
    with atomic_paths(*targets, clean_stale=True) as (state_tmp, *temporaries, iter_path):
        for temporary, content in zip(temporaries, files.values(), strict=True):
            save_torch_file(content, temporary)
        train_state[SET_DIGESTS] = set_digests(dict(zip(files, temporaries, strict=True)))
        save_torch_file(train_state, state_tmp)
        np.savetxt(iter_path, iter_txt, delimiter=",", fmt="%d")


def checkpoint_error(error: OSError, directory: Path) -> OSError:
    """The one-line error of a failed save."""
    reason = error.strerror or str(error)
    return OSError(
        error.errno,
        f"cannot save the checkpoint: {reason}; the files saved before are kept whole",
        str(directory),
    )


def write_bundle(model: LoadedModel, directory: Path) -> Path:
    try:
        return save_bundle(model, directory)
    except Exception as error:
        # safetensors reports a failed write (a full disk) as a SafetensorError that
        # ends in "(os error N)": an OSError here, like every other failed write.
        code = re.search(r"\(os error (\d+)\)", str(error))
        if isinstance(error, OSError) or code is None:
            raise
        errno = int(code.group(1))
        raise OSError(errno, os.strerror(errno), str(directory / "weights.safetensors")) from error
