# SPDX-License-Identifier: Apache-2.0
"""Reading and writing weights + config: public pix2pixHD files and p2phd bundles.

Public files (what the public pix2pixHD code writes into `checkpoints/<name>/`):

- `<epoch>_net_G.pth`: the generator's state dict (`torch.save(net.state_dict())`).
- `<epoch>_net_E.pth`: the feature encoder's state dict, for `--instance_feat` models.
- `features_clustered_NNN.npy`: `np.save` of a dict {label: K x feat_num array} (a pickle).

They carry no configuration, so the architecture is read off the tensor shapes and only what
shapes cannot tell (how the input channels split into labels, edges and features) comes from
the caller, with the public defaults. Weights load with `torch.load(weights_only=True)` and
cluster files with an unpickler that can build nothing but dicts, numbers and numpy arrays.

A bundle is p2phd's own format: safetensors weights (`G.*`, `E.*`, `clusters.<label>`) whose
metadata holds the JSON description, either as one `.safetensors` file or as a directory with
`config.json` + `weights.safetensors`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

from .models.config import GeneratorConfig
from .models.encoder import Encoder, EncoderConfig
from .models.generator import build_generator

__all__ = [
    "BUNDLE_FORMAT",
    "CheckpointError",
    "LoadedModel",
    "export_public",
    "infer_encoder_config",
    "infer_generator_config",
    "load",
    "load_bundle",
    "load_clusters",
    "load_public",
    "public_to_bundle",
    "save_bundle",
    "save_clusters",
]

BUNDLE_FORMAT = "p2phd-bundle"
BUNDLE_VERSION = 1
_METADATA_KEY = "p2phd"
_BUNDLE_CONFIG = "config.json"
_BUNDLE_WEIGHTS = "weights.safetensors"
_DEFAULT_CLUSTERS = "features_clustered_010.npy"  # the public `--cluster_path` default

Clusters = dict[int, np.ndarray]


class CheckpointError(ValueError):
    """A checkpoint or bundle that cannot be read, or that does not fit the requested model."""


@dataclass
class LoadedModel:
    """What a checkpoint holds: the generator, and for feature models the encoder and clusters.

    `clusters` maps a label to its K x feat_num cluster centres (public `features_clustered`).
    """

    config: GeneratorConfig
    generator: nn.Module
    encoder: Encoder | None = None
    encoder_config: EncoderConfig | None = None
    clusters: Clusters | None = None


# --------------------------------------------------------------------------------------------
# Architecture inference
# --------------------------------------------------------------------------------------------

_RUNNING_STATS = (".running_mean", ".running_var", ".num_batches_tracked")


def _clean_state_dict(state: Any, what: str) -> dict[str, torch.Tensor]:
    """Checks the type, strips a DataParallel `module.` prefix and pre-0.4 instance-norm stats."""
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{what} is not a state dict (a mapping of names to tensors)")
    items = dict(state.items())
    if items and all(k.startswith("module.") for k in items):
        items = {k[len("module.") :]: v for k, v in items.items()}
    # PyTorch < 0.4 saved running_mean/var for InstanceNorm layers; they were never used
    # (track_running_stats is off) and modern load_state_dict rejects them. A norm layer that
    # also has a weight would be batch norm, which is left in so that it fails loudly below.
    for key in [k for k in items if k.endswith(_RUNNING_STATS)]:
        module = key.rsplit(".", 1)[0]
        if module + ".weight" not in items:
            del items[key]
    return items


def _check_no_batch_norm(state: Mapping[str, torch.Tensor], what: str) -> None:
    if any(k.endswith(_RUNNING_STATS) for k in state):
        raise CheckpointError(
            f"{what} has batch-norm layers (trained with --norm batch); p2phd implements the "
            "public default --norm instance only"
        )


def _direct_convs(state: Mapping[str, torch.Tensor], prefix: str) -> list[torch.Tensor]:
    """4-D `<prefix><index>.weight` tensors of a Sequential, in index order (no res blocks)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.weight$")
    found = []
    for key, value in state.items():
        m = pattern.match(key)
        if m and value.dim() == 4:
            found.append((int(m.group(1)), value))
    return [v for _, v in sorted(found, key=lambda item: item[0])]


def _count_blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.conv_block\.1\.weight$")
    return sum(1 for key in state if pattern.match(key))


def _compare_layout(
    state: Mapping[str, torch.Tensor], module: nn.Module, what: str, described: str
) -> None:
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if expected == got:
        return
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    details = []
    if missing:
        details.append(f"missing {missing[:4]}{' ...' if len(missing) > 4 else ''}")
    if unexpected:
        details.append(f"unexpected {unexpected[:4]}{' ...' if len(unexpected) > 4 else ''}")
    for key in shapes[:4]:
        details.append(f"{key}: file {list(got[key])}, model {list(expected[key])}")
    raise CheckpointError(f"{what} does not match a pix2pixHD {described}: " + "; ".join(details))


def _split_input_channels(
    input_nc: int, label_nc: int, use_instance: bool, feat_num: int, instance_feat: bool | None
) -> bool:
    """Decide instance_feat from the weights' input channels, or fail naming both counts."""
    base = label_nc + int(use_instance)
    if instance_feat is None:
        if input_nc == base:
            return False
        if feat_num > 0 and input_nc == base + feat_num:
            return True
        expected = f"{base}" + (f" or {base + feat_num} with instance features" if feat_num else "")
    else:
        if input_nc == base + (feat_num if instance_feat else 0):
            return instance_feat
        expected = f"{base + (feat_num if instance_feat else 0)}"
    raise CheckpointError(
        f"the generator weights take {input_nc} input channels, but label_nc={label_nc}, "
        f"use_instance={use_instance}, feat_num={feat_num} give {expected}; pass the "
        "label_nc / use_instance / feat_num the model was trained with"
    )


def infer_generator_config(
    state_dict: Mapping[str, torch.Tensor],
    *,
    label_nc: int = 35,
    use_instance: bool = True,
    feat_num: int = 3,
    instance_feat: bool | None = None,
) -> GeneratorConfig:
    """The GeneratorConfig of a public generator state dict, read off its tensor shapes.

    ngf, netG, downsamplings, block counts, enhancers and output channels come from the
    shapes; how the input channels split comes from the arguments (public defaults), with
    `instance_feat=None` meaning "decide from the channel count".
    """
    state = _clean_state_dict(state_dict, "the generator checkpoint")
    _check_no_batch_norm(state, "the generator checkpoint")
    enhancers = sorted(
        int(m.group(1)) for k in state if (m := re.match(r"model(\d+)_1\.1\.weight$", k))
    )
    convs = _direct_convs(state, "model.")
    if not convs or convs[0].shape[2:] != (7, 7):
        raise CheckpointError(
            "the file does not hold a pix2pixHD generator: no 7x7 input convolution "
            "'model.1.weight' found"
        )
    first = convs[0]
    input_nc = int(first.shape[1])
    n_down_convs = sum(1 for c in convs if c.shape[2:] == (3, 3))
    if n_down_convs % 2:
        raise CheckpointError(
            f"the generator has {n_down_convs} 3x3 up/down convolutions; a pix2pixHD generator "
            "has as many upsamplings as downsamplings"
        )
    fields: dict[str, Any] = {
        "n_downsample_global": n_down_convs // 2,
        "n_blocks_global": _count_blocks(state, "model."),
    }
    if enhancers:
        n_local = len(enhancers)
        if enhancers != list(range(1, n_local + 1)):
            raise CheckpointError(
                f"local enhancers are numbered {enhancers}, expected 1..{n_local}"
            )
        ngf_global = int(first.shape[0])
        if ngf_global % 2**n_local:
            raise CheckpointError(
                f"global ngf {ngf_global} is not divisible by 2**{n_local} (the enhancer count)"
            )
        blocks = {_count_blocks(state, f"model{n}_2.") for n in enhancers}
        if len(blocks) != 1:
            raise CheckpointError(
                f"local enhancers have different residual block counts {sorted(blocks)}"
            )
        last = _direct_convs(state, f"model{n_local}_2.")
        if not last or last[-1].shape[2:] != (7, 7):
            raise CheckpointError(f"no final 7x7 convolution in 'model{n_local}_2'")
        fields.update(
            netG="local",
            ngf=ngf_global // 2**n_local,
            n_local_enhancers=n_local,
            n_blocks_local=blocks.pop(),
            output_nc=int(last[-1].shape[0]),
        )
    else:
        if len(convs) < 2 or convs[-1].shape[2:] != (7, 7):
            raise CheckpointError("no final 7x7 convolution in the global generator")
        fields.update(netG="global", ngf=int(first.shape[0]), output_nc=int(convs[-1].shape[0]))
    instance_feat = _split_input_channels(input_nc, label_nc, use_instance, feat_num, instance_feat)
    try:
        config = GeneratorConfig(
            label_nc=label_nc,
            use_instance=use_instance,
            feat_num=feat_num,
            instance_feat=instance_feat,
            **fields,
        )
    except ValueError as exc:
        raise CheckpointError(
            f"the generator weights give an invalid configuration: {exc}"
        ) from exc
    with torch.device("meta"):
        skeleton = build_generator(config)
    _compare_layout(state, skeleton, "the generator checkpoint", f"{config.netG} generator")
    return config


def infer_encoder_config(state_dict: Mapping[str, torch.Tensor]) -> EncoderConfig:
    """The EncoderConfig (input channels, feat_num, nef, downsamplings) of an E state dict."""
    state = _clean_state_dict(state_dict, "the encoder checkpoint")
    _check_no_batch_norm(state, "the encoder checkpoint")
    convs = _direct_convs(state, "model.")
    if len(convs) < 2 or convs[0].shape[2:] != (7, 7) or convs[-1].shape[2:] != (7, 7):
        raise CheckpointError("the file does not hold a pix2pixHD feature encoder")
    n_mid = sum(1 for c in convs if c.shape[2:] == (3, 3))
    try:
        config = EncoderConfig(
            input_nc=int(convs[0].shape[1]),
            feat_num=int(convs[-1].shape[0]),
            nef=int(convs[0].shape[0]),
            n_downsample=n_mid // 2,
        )
    except ValueError as exc:
        raise CheckpointError(f"the encoder weights give an invalid configuration: {exc}") from exc
    with torch.device("meta"):
        skeleton = Encoder.from_config(config)
    _compare_layout(state, skeleton, "the encoder checkpoint", "feature encoder")
    return config


def _materialize(module_on_meta: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    # Built on the meta device and given the loaded tensors: no second copy of the weights and
    # no time spent on a random initialisation that would be overwritten.
    params = {
        k: v.detach().to(dtype=torch.float32, device="cpu").contiguous() for k, v in state.items()
    }
    module_on_meta.load_state_dict(params, strict=True, assign=True)
    return module_on_meta.eval()


def _build_generator(config: GeneratorConfig, state: Mapping[str, torch.Tensor]) -> nn.Module:
    with torch.device("meta"):
        module = build_generator(config)
    _compare_layout(state, module, "the generator weights", f"{config.netG} generator")
    return _materialize(module, state)


def _build_encoder(config: EncoderConfig, state: Mapping[str, torch.Tensor]) -> Encoder:
    with torch.device("meta"):
        module = Encoder.from_config(config)
    _compare_layout(state, module, "the encoder weights", "feature encoder")
    encoder = _materialize(module, state)
    assert isinstance(encoder, Encoder)
    return encoder


# --------------------------------------------------------------------------------------------
# Public files
# --------------------------------------------------------------------------------------------


def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} holds more than tensors and was refused (weights_only load): {exc}"
        ) from exc
    except Exception as exc:  # truncated zip, bad magic, EOF ... all mean "not readable"
        raise CheckpointError(
            f"{path} is not a readable PyTorch weights file (truncated or corrupted?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return _clean_state_dict(state, str(path))


class _ClusterUnpickler(pickle.Unpickler):
    """Builds only what `np.save` of a {label: ndarray} dict needs; refuses every other global.

    The admitted callables are our own wrappers, which check their arguments, not the numpy
    functions themselves, so a crafted pickle cannot reach anything beyond building arrays.
    """

    def find_class(self, module: str, name: str) -> Any:
        allowed = _SAFE_GLOBALS.get((module, name))
        if allowed is None:
            raise pickle.UnpicklingError(
                f"refusing to load '{module}.{name}': a cluster file may only hold a dict of "
                "numpy arrays"
            )
        return allowed


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("array reconstruction of a type other than numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("numpy scalar of an object dtype")
    if isinstance(data, str):  # Python 2 pickles carry raw bytes as latin-1 text
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("malformed numpy scalar")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _safe_encode(text: Any, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1":
        raise pickle.UnpicklingError("only latin-1 text to bytes conversion is allowed")
    return text.encode("latin1")


def _safe_bytes(*args: Any) -> bytes:
    if args and not (len(args) == 2 and isinstance(args[0], str)):
        raise pickle.UnpicklingError("only bytes() or bytes(str, encoding) is allowed")
    return bytes(*args)


_SAFE_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
    ("_codecs", "encode"): _safe_encode,
    ("builtins", "bytes"): _safe_bytes,
    ("__builtin__", "bytes"): _safe_bytes,
}


def _read_npy_object(stream: IO[bytes], where: str) -> Any:
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, SyntaxError) as exc:
        raise CheckpointError(f"{where} is not a .npy file: {exc}") from exc
    if dtype != np.dtype(object) or shape != ():
        raise CheckpointError(
            f"{where} holds a {dtype} array of shape {shape}; a cluster file holds one pickled "
            "dict (np.save of {label: array})"
        )
    try:
        # latin1: files written under Python 2 (the public code's era) carry raw array bytes.
        array = _ClusterUnpickler(stream, encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{where}: {exc}") from exc
    except Exception as exc:
        raise CheckpointError(
            f"{where} is not a readable cluster file (truncated or corrupted?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(array, np.ndarray) or array.shape != () or array.dtype != object:
        raise CheckpointError(f"{where} does not hold a 0-d object array wrapping a dict")
    return array.item()


def _validate_clusters(data: Any, where: str, feat_num: int | None) -> Clusters:
    if not isinstance(data, dict):
        raise CheckpointError(f"{where} holds a {type(data).__name__}, not a dict of clusters")
    clusters: Clusters = {}
    for label, centres in data.items():
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
            raise CheckpointError(f"{where}: cluster label {label!r} is not a non-negative int")
        if (
            not isinstance(centres, np.ndarray)
            or centres.ndim != 2
            or centres.dtype.kind not in "fiu"
        ):
            raise CheckpointError(
                f"{where}: clusters of label {label} must be a 2-D numeric array, got "
                f"{getattr(centres, 'dtype', type(centres).__name__)} "
                f"{getattr(centres, 'shape', '')}"
            )
        if feat_num is not None and centres.shape[1] != feat_num:
            raise CheckpointError(
                f"{where}: clusters of label {label} have {centres.shape[1]} features, the "
                f"model has feat_num={feat_num}"
            )
        clusters[int(label)] = centres
    return clusters


def load_clusters(path: str | os.PathLike[str], *, feat_num: int | None = None) -> Clusters:
    """Read a public `features_clustered_NNN.npy` without running any code from it.

    Returns {label: K x feat_num array}; checks the column count when feat_num is given.
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = _read_npy_object(f, str(path))
    return _validate_clusters(data, str(path), feat_num)


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
    generator = _build_generator(config, g_state)
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
        loaded.encoder = _build_encoder(e_config, e_state)
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
    return loaded


@contextlib.contextmanager
def _atomic_write(path: Path) -> Iterator[IO[bytes]]:
    """A file object whose contents appear at `path` only if the block finishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_clusters(path: str | os.PathLike[str], clusters: Mapping[int, np.ndarray]) -> Path:
    """Write clusters as the public code does (np.save of a dict), atomically."""
    path = Path(path)
    data = {int(k): np.asarray(v) for k, v in clusters.items()}
    with _atomic_write(path) as f:
        np.save(f, np.array(data, dtype=object), allow_pickle=True)
    return path


def _state_dict_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


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
        state = _state_dict_of(net)
        with _atomic_write(path) as f:
            torch.save(state, f)
        written[role] = path
    if model.clusters is not None:
        if n_clusters is None:
            n_clusters = max((c.shape[0] for c in model.clusters.values()), default=0)
        written["clusters"] = save_clusters(
            directory / f"features_clustered_{n_clusters:03d}.npy", model.clusters
        )
    return written


# --------------------------------------------------------------------------------------------
# Bundles
# --------------------------------------------------------------------------------------------


def _bundle_tensors(model: LoadedModel) -> dict[str, torch.Tensor]:
    tensors = {f"G.{k}": v for k, v in _state_dict_of(model.generator).items()}
    if model.encoder is not None:
        tensors.update({f"E.{k}": v for k, v in _state_dict_of(model.encoder).items()})
    for label, centres in (model.clusters or {}).items():
        tensors[f"clusters.{int(label)}"] = torch.from_numpy(np.ascontiguousarray(centres))
    return tensors


def _content_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    # Names, dtypes, shapes and bytes of every tensor: the same model always gets the same
    # digest (so saving twice gives identical files), and a flipped bit is caught on load.
    digest = hashlib.sha256()
    for key in sorted(tensors):
        value = tensors[key].contiguous()
        digest.update(f"{key}|{value.dtype}|{list(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _bundle_description(model: LoadedModel, content_sha256: str) -> dict[str, Any]:
    encoder_config = model.encoder_config
    if model.encoder is not None and encoder_config is None:
        raise ValueError("LoadedModel.encoder is set but encoder_config is None")
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "content_sha256": content_sha256,
        "generator": model.config.to_dict(),
        "encoder": None if model.encoder is None else vars(encoder_config).copy(),
        "clusters": None if model.clusters is None else sorted(int(k) for k in model.clusters),
    }


def save_bundle(model: LoadedModel, path: str | os.PathLike[str]) -> Path:
    """Save config + weights (+ clusters) as one `.safetensors` file or a directory.

    A path ending in `.safetensors` gives the single file; any other path a directory with
    `config.json` and `weights.safetensors`. Files are written beside their target and renamed
    into place, so a failed save leaves the previous contents (or nothing) behind.
    """
    from safetensors.torch import save as safetensors_save

    path = Path(path)
    tensors = _bundle_tensors(model)
    description = _bundle_description(model, _content_digest(tensors))
    text = json.dumps(description, sort_keys=True)
    payload = safetensors_save(tensors, metadata={_METADATA_KEY: text})
    if path.suffix == ".safetensors":
        with _atomic_write(path) as f:
            f.write(payload)
        return path
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a directory")
    # Weights first, config last: both carry the content digest, and load_bundle refuses a
    # pair whose digests differ, so an interrupted overwrite is detected, not half-loaded.
    with _atomic_write(path / _BUNDLE_WEIGHTS) as f:
        f.write(payload)
    with _atomic_write(path / _BUNDLE_CONFIG) as f:
        f.write(json.dumps(description, indent=2, sort_keys=True).encode() + b"\n")
    return path


def _parse_description(text: str, where: str) -> dict[str, Any]:
    try:
        description = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{where}: bundle description is not valid JSON: {exc}") from exc
    if not isinstance(description, dict) or description.get("format") != BUNDLE_FORMAT:
        raise CheckpointError(f"{where} is not a p2phd bundle")
    if description.get("version") != BUNDLE_VERSION:
        raise CheckpointError(
            f"{where} is bundle version {description.get('version')}; this p2phd reads "
            f"version {BUNDLE_VERSION}"
        )
    return description


def load_bundle(path: str | os.PathLike[str]) -> LoadedModel:
    """Load what save_bundle wrote (a `.safetensors` file or a bundle directory)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as safetensors_load

    path = Path(path)
    weights = path / _BUNDLE_WEIGHTS if path.is_dir() else path
    raw = weights.read_bytes()
    try:
        tensors = safetensors_load(raw)
        metadata = _safetensors_metadata(raw)
    except (SafetensorError, ValueError) as exc:
        raise CheckpointError(
            f"{weights} is not a readable safetensors file (truncated or corrupted?): {exc}"
        ) from exc
    if _METADATA_KEY not in metadata:
        raise CheckpointError(f"{weights} has no p2phd description in its metadata")
    description = _parse_description(metadata[_METADATA_KEY], str(weights))
    if path.is_dir():
        config_path = path / _BUNDLE_CONFIG
        if not config_path.is_file():
            raise CheckpointError(f"{path} has weights but no {_BUNDLE_CONFIG}")
        side = _parse_description(config_path.read_text(), str(config_path))
        if side != description:
            raise CheckpointError(
                f"{config_path} and {weights.name} do not belong to the same save "
                "(an interrupted or mixed copy?)"
            )
    if _content_digest(tensors) != description.get("content_sha256"):
        raise CheckpointError(f"{weights} is corrupted: its tensors do not match their digest")
    try:
        config = GeneratorConfig.from_dict(description["generator"])
        encoder_config = (
            None if description["encoder"] is None else EncoderConfig(**description["encoder"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{weights}: invalid bundle description: {exc}") from exc

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    loaded = LoadedModel(config=config, generator=_build_generator(config, part("G.")))
    if encoder_config is not None:
        loaded.encoder = _build_encoder(encoder_config, part("E."))
        loaded.encoder_config = encoder_config
    cluster_tensors = part("clusters.")
    labels = description.get("clusters")
    if labels is not None:
        if sorted(cluster_tensors) != sorted(str(label) for label in labels):
            raise CheckpointError(f"{weights}: cluster tensors do not match the description")
        loaded.clusters = _validate_clusters(
            {int(k): v.numpy() for k, v in cluster_tensors.items()},
            str(weights),
            config.feat_num,
        )
    elif cluster_tensors:
        raise CheckpointError(f"{weights}: cluster tensors not listed in the description")
    return loaded


def _safetensors_metadata(raw: bytes) -> dict[str, str]:
    # The header is 8 bytes of little-endian length + JSON; read it rather than depend on a
    # safetensors API for metadata of in-memory data.
    if len(raw) < 8:
        raise ValueError("file shorter than the safetensors header")
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ValueError("malformed safetensors metadata")
    return metadata


def _is_bundle(path: Path) -> bool:
    if path.is_dir():
        return (path / _BUNDLE_WEIGHTS).is_file()
    return path.suffix == ".safetensors"


def load(path: str | os.PathLike[str], **public_options: Any) -> LoadedModel:
    """Load a bundle or a public checkpoint, whichever `path` is.

    `public_options` (label_nc, use_instance, feat_num, instance_feat, which_epoch, clusters)
    apply to public checkpoints only; a bundle carries its own configuration.
    """
    path = Path(path)
    if _is_bundle(path):
        if public_options:
            raise TypeError(
                f"a bundle carries its own configuration; unexpected {sorted(public_options)}"
            )
        return load_bundle(path)
    return load_public(path, **public_options)


def public_to_bundle(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    **public_options: Any,
) -> LoadedModel:
    """Convert a public checkpoint to a bundle in one call; returns the loaded model."""
    model = load_public(source, **public_options)
    save_bundle(model, destination)
    return model
