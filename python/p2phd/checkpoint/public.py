# SPDX-License-Identifier: Apache-2.0
"""Public pix2pixHD files, as its code writes them into `checkpoints/<name>/`.

- `<epoch>_net_G.pth`: the generator's state dict (`torch.save(net.state_dict())`).
- `<epoch>_net_E.pth`: the feature encoder's state dict, for `--instance_feat` models.
- `features_clustered_NNN.npy`: the cluster centres (see `clusters`).

They carry no configuration, so the architecture is read off the tensor shapes and only what
shapes cannot tell (how the input channels split into labels, edges and features) comes from
the caller, with the public defaults. Weights load with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from p2phd.atomic import atomic_write
from p2phd.checkpoint.architecture import (
    build_encoder_from_state,
    build_generator_from_state,
    clean_state_dict,
    infer_encoder_config,
    infer_generator_config,
)
from p2phd.checkpoint.clusters import load_clusters, save_clusters
from p2phd.checkpoint.model import CheckpointError, LoadedModel, state_dict_of

_DEFAULT_CLUSTERS = "features_clustered_010.npy"  # the public `--cluster_path` default


def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        # torch raises this both for a disallowed global and for bytes that are no pickle.
        reason = str(exc).split("WeightsUnpickler error:")[-1].strip().split("\n")[0]
        raise CheckpointError(
            f"{path} was refused by the weights-only loader: it is corrupted or holds more "
            f"than tensors ({reason})"
        ) from exc
    except Exception as exc:  # truncated zip, bad magic, EOF ... all mean "not readable"
        raise CheckpointError(
            f"{path} is not a readable PyTorch weights file (truncated or corrupted?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return clean_state_dict(state, str(path))


def _find_public_files(path: Path, which_epoch: str) -> tuple[Path, Path | None, list[Path]]:
    if path.is_dir():
        g_path = path / f"{which_epoch}_net_G.pth"
        if not g_path.is_file():
            found = sorted(p.name for p in path.glob("*_net_G.pth"))
            hint = f" (found {', '.join(found)}; pass which_epoch)" if found else ""
            raise FileNotFoundError(f"no {g_path.name} in {path}{hint}")
    elif path.is_file():
        if not path.name.endswith("_net_G.pth"):
            raise CheckpointError(f"{path} is not a '<epoch>_net_G.pth' file or a directory")
        g_path = path
        which_epoch = path.name[: -len("_net_G.pth")]
    else:
        raise FileNotFoundError(f"no checkpoint at {path}")
    e_path = g_path.with_name(f"{which_epoch}_net_E.pth")
    cluster_files = sorted(g_path.parent.glob("features_clustered_*.npy"))
    return g_path, (e_path if e_path.is_file() else None), cluster_files


def load_public(
    path: str | os.PathLike[str],
    *,
    label_nc: int = 35,
    use_instance: bool = True,
    feat_num: int = 3,
    instance_feat: bool | None = None,
    which_epoch: str = "latest",
    clusters: str | os.PathLike[str] | None = None,
) -> LoadedModel:
    """Load a public pix2pixHD checkpoint: a directory or a `<epoch>_net_G.pth` file.

    The architecture comes from the tensor shapes; label_nc / use_instance / feat_num say how
    the input channels split (public defaults 35, True, 3) and `instance_feat=None` decides
    from the channel count whether instance features are part of the input. For a feature
    model the encoder (`<epoch>_net_E.pth`) and the clusters (`clusters`, else the only
    `features_clustered_*.npy` next to G, else `features_clustered_010.npy`) load when present.
    """
    g_path, e_path, cluster_files = _find_public_files(Path(path), which_epoch)
    g_state = _torch_load(g_path)
    config = infer_generator_config(
        g_state,
        label_nc=label_nc,
        use_instance=use_instance,
        feat_num=feat_num,
        instance_feat=instance_feat,
    )
    generator = build_generator_from_state(config, g_state)
    loaded = LoadedModel(config=config, generator=generator)
    if not config.instance_feat:
        return loaded
    if e_path is not None:
        e_state = _torch_load(e_path)
        e_config = infer_encoder_config(e_state)
        if e_config.feat_num != config.feat_num:
            raise CheckpointError(
                f"{e_path.name} encodes {e_config.feat_num} features but the generator takes "
                f"feat_num={config.feat_num}"
            )
        loaded.encoder = build_encoder_from_state(e_config, e_state)
        loaded.encoder_config = e_config
    cluster_path: Path | None = None
    if clusters is not None:
        cluster_path = Path(clusters)
        if not cluster_path.is_absolute() and not cluster_path.exists():
            cluster_path = g_path.parent / cluster_path
    elif len(cluster_files) == 1:
        cluster_path = cluster_files[0]
    elif cluster_files:
        default = g_path.parent / _DEFAULT_CLUSTERS
        if not default.is_file():
            names = ", ".join(p.name for p in cluster_files)
            raise CheckpointError(f"several cluster files ({names}); choose one with clusters=")
        cluster_path = default
    if cluster_path is not None:
        loaded.clusters = load_clusters(cluster_path, feat_num=config.feat_num)
        beyond = sorted(k for k in loaded.clusters if k >= config.label_nc)
        if beyond:
            raise CheckpointError(
                f"{cluster_path} has clusters for label(s) {beyond}, beyond label_nc="
                f"{config.label_nc}"
            )
    return loaded


def export_public(
    model: LoadedModel,
    directory: str | os.PathLike[str],
    *,
    which_epoch: str = "latest",
    n_clusters: int | None = None,
) -> dict[str, Path]:
    """Write the public layout: `<epoch>_net_G.pth` (+ `_net_E.pth`, `features_clustered_NNN.npy`).

    n_clusters names the cluster file (public `--n_clusters`); by default the largest number
    of centres of any label. Returns the written paths by role ("G", "E", "clusters").
    """
    directory = Path(directory)
    written: dict[str, Path] = {}
    nets = [("G", model.generator), ("E", model.encoder)]
    for role, net in nets:
        if net is None:
            continue
        path = directory / f"{which_epoch}_net_{role}.pth"
        state = state_dict_of(net)
        with atomic_write(path, clean_stale=True) as f:
            torch.save(state, f)
        written[role] = path
    if model.clusters is not None:
        if n_clusters is None:
            n_clusters = max((c.shape[0] for c in model.clusters.values()), default=0)
        written["clusters"] = save_clusters(
            directory / f"features_clustered_{n_clusters:03d}.npy", model.clusters
        )
    return written
