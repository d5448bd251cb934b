# SPDX-License-Identifier: Apache-2.0
"""p2phd bundles: safetensors weights (`G.*`, `E.*`, `clusters.<label>`) whose metadata holds
the JSON description, as one `.safetensors` file or as a directory with `config.json` +
`weights.safetensors`.

The description is checked against the tensors before any module is built: a bundle whose
JSON claims another architecture than its weights have is refused, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2phd.atomic import atomic_path, atomic_paths
from p2phd.checkpoint.architecture import (
    build_encoder_from_state,
    build_generator_from_state,
    infer_encoder_config,
    infer_generator_config,
)
from p2phd.checkpoint.clusters import validate_clusters
from p2phd.checkpoint.model import CheckpointError, LoadedModel, state_dict_of
from p2phd.checkpoint.tensor_file import read_tensor_file
from p2phd.models.config import GeneratorConfig
from p2phd.models.encoder import EncoderConfig

BUNDLE_FORMAT = "p2phd-bundle"
BUNDLE_VERSION = 1
_METADATA_KEY = "p2phd"
_BUNDLE_CONFIG = "config.json"
_BUNDLE_WEIGHTS = "weights.safetensors"
# The GeneratorConfig fields that say how the generator's input channels split.
_INPUT_SPLIT = ("label_nc", "use_instance", "feat_num", "instance_feat")


def _bundle_tensors(model: LoadedModel) -> dict[str, torch.Tensor]:
    tensors = {f"G.{k}": v for k, v in state_dict_of(model.generator).items()}
    if model.encoder is not None:
        tensors.update({f"E.{k}": v for k, v in state_dict_of(model.encoder).items()})
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


def model_digest(model: LoadedModel) -> str:
    """The digest, "sha256:<hex>", of what a model renders with: its generator
    configuration and every tensor (generator, encoder, clusters). The same weights give the
    same digest whether they were read from a bundle or from public files."""
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    digest.update(_content_digest(_bundle_tensors(model)).encode())
    return f"sha256:{digest.hexdigest()}"


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
    into place, so a failed or interrupted save leaves the previous bundle (or nothing).
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = _bundle_tensors(model)
    description = _bundle_description(model, _content_digest(tensors))
    metadata = {_METADATA_KEY: json.dumps(description, sort_keys=True)}
    if path.suffix == ".safetensors":
        with atomic_path(path, clean_stale=True) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
        return path
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a directory")
    # Both files are renamed into place together, with SIGINT/SIGTERM held back in between;
    # both carry the content digest, so a pair mixed by a hard kill is refused on load.
    with atomic_paths(path / _BUNDLE_WEIGHTS, path / _BUNDLE_CONFIG, clean_stale=True) as (
        weights,
        config,
    ):
        save_file(tensors, str(weights), metadata=metadata)
        config.write_bytes(json.dumps(description, indent=2, sort_keys=True).encode() + b"\n")
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
    """Load what save_bundle wrote (a `.safetensors` file or a bundle directory), into memory
    of its own: rewriting or removing the files afterwards changes nothing in the model."""
    path = Path(path)
    weights = path / _BUNDLE_WEIGHTS if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"no bundle at {path}")
    try:
        # Read into owned memory, not mapped: the loaded model must not change (or die of
        # SIGBUS) when the file is rewritten or replaced afterwards.
        metadata, tensors = read_tensor_file(weights)
    except (OSError, ValueError) as exc:
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

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    g_state, e_state = part("G."), part("E.")
    config, encoder_config = _described_configs(description, g_state, e_state, str(weights))
    loaded = LoadedModel(config=config, generator=build_generator_from_state(config, g_state))
    if encoder_config is not None:
        loaded.encoder = build_encoder_from_state(encoder_config, e_state)
        loaded.encoder_config = encoder_config
    cluster_tensors = part("clusters.")
    labels = description.get("clusters")
    if labels is not None:
        if not isinstance(labels, list) or not all(
            isinstance(label, int) and not isinstance(label, bool) for label in labels
        ):
            raise CheckpointError(
                f"{weights}: invalid bundle description: clusters must be a list of labels, "
                f"got {labels!r}"
            )
        if sorted(cluster_tensors) != sorted(str(label) for label in labels):
            raise CheckpointError(f"{weights}: cluster tensors do not match the description")
        loaded.clusters = validate_clusters(
            {int(k): v.numpy() for k, v in cluster_tensors.items()},
            str(weights),
            config.feat_num,
        )
    elif cluster_tensors:
        raise CheckpointError(f"{weights}: cluster tensors not listed in the description")
    return loaded


def _described_configs(
    description: Mapping[str, Any],
    g_state: Mapping[str, torch.Tensor],
    e_state: Mapping[str, torch.Tensor],
    where: str,
) -> tuple[GeneratorConfig, EncoderConfig | None]:
    """The generator and encoder configs of a description, checked against the shapes of the
    tensors before any module is built (a description cannot make us build a huge network)."""
    try:
        config = GeneratorConfig.from_dict(description["generator"])
        encoder = description["encoder"]
        if encoder is not None and not isinstance(encoder, dict):
            raise ValueError(f"encoder must be a JSON object or null, got {encoder!r}")
        encoder_config = None if encoder is None else EncoderConfig(**encoder)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: invalid bundle description: {exc}") from exc
    # How the input channels split is the description's to say (the shapes give only their
    # sum); the rest of the architecture is read off the weights and must agree with it.
    input_split = {name: getattr(config, name) for name in _INPUT_SPLIT}
    try:
        found = infer_generator_config(g_state, **input_split)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: the generator weights do not fit: {exc}") from exc
    # A global generator has no enhancers: their fields describe nothing in its weights.
    unused = ("n_local_enhancers", "n_blocks_local") if found.netG == "global" else ()
    _require_same(config, found, "generator", where, unused)
    if encoder_config is None:
        if e_state:
            raise CheckpointError(f"{where}: encoder tensors not listed in the description")
        return config, None
    try:
        found_encoder = infer_encoder_config(e_state)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: the encoder weights do not fit: {exc}") from exc
    _require_same(encoder_config, found_encoder, "encoder", where, ())
    return config, encoder_config


def _require_same(
    described: Any, found: Any, what: str, where: str, unused: tuple[str, ...]
) -> None:
    differ = [
        f"{name} {value!r} (the weights have {getattr(found, name)!r})"
        for name, value in vars(described).items()
        if name not in unused and getattr(found, name) != value
    ]
    if differ:
        raise CheckpointError(
            f"{where}: the description does not match the {what} weights: " + ", ".join(differ)
        )


def is_bundle(path: Path) -> bool:
    if path.is_dir():
        return (path / _BUNDLE_WEIGHTS).is_file()
    return path.suffix == ".safetensors"
