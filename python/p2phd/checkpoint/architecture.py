# SPDX-License-Identifier: Apache-2.0
"""The architecture of a state dict read off its tensor shapes, and modules built from it.

Modules are built on the meta device and given the loaded tensors: no second copy of the
weights, and no time spent on a random initialisation that would be overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from p2phd.checkpoint.model import CheckpointError
from p2phd.models.config import GeneratorConfig
from p2phd.models.encoder import Encoder, EncoderConfig
from p2phd.models.generator import build_generator

_RUNNING_STATS = (".running_mean", ".running_var", ".num_batches_tracked")


def clean_state_dict(state: Any, what: str) -> dict[str, torch.Tensor]:
    """Checks the type, strips a DataParallel `module.` prefix and pre-0.4 instance-norm stats."""
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{what} is not a state dict (a mapping of names to tensors)")
    items = dict(state.items())
    not_float = [k for k, v in items.items() if not v.is_floating_point()]
    if not_float:
        raise CheckpointError(f"{what} has non-floating-point tensors, e.g. '{not_float[0]}'")
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


def check_input_options(
    label_nc: Any, use_instance: Any, feat_num: Any, instance_feat: Any
) -> None:
    """How the input channels split is the caller's word: check its types before any use."""
    for name, value, least in (("label_nc", label_nc, 1), ("feat_num", feat_num, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    if not isinstance(use_instance, bool):
        raise ValueError(f"use_instance must be True or False, got {use_instance!r}")
    if instance_feat is not None and not isinstance(instance_feat, bool):
        raise ValueError(f"instance_feat must be True, False or None, got {instance_feat!r}")


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
    check_input_options(label_nc, use_instance, feat_num, instance_feat)
    state = clean_state_dict(state_dict, "the generator checkpoint")
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
        fields.update(_local_enhancer_fields(state, enhancers, first))
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


def _local_enhancer_fields(
    state: Mapping[str, torch.Tensor], enhancers: list[int], first: torch.Tensor
) -> dict[str, Any]:
    """The GeneratorConfig fields of a local enhancer generator: enhancers numbered 1..n,
    `first` the global generator's input convolution."""
    n_local = len(enhancers)
    if enhancers != list(range(1, n_local + 1)):
        raise CheckpointError(f"local enhancers are numbered {enhancers}, expected 1..{n_local}")
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
    return dict(
        netG="local",
        ngf=ngf_global // 2**n_local,
        n_local_enhancers=n_local,
        n_blocks_local=blocks.pop(),
        output_nc=int(last[-1].shape[0]),
    )


def infer_encoder_config(state_dict: Mapping[str, torch.Tensor]) -> EncoderConfig:
    """The EncoderConfig (input channels, feat_num, nef, downsamplings) of an E state dict."""
    state = clean_state_dict(state_dict, "the encoder checkpoint")
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
    params = {
        k: v.detach().to(dtype=torch.float32, device="cpu").contiguous() for k, v in state.items()
    }
    module_on_meta.load_state_dict(params, strict=True, assign=True)
    return module_on_meta.eval()


def build_generator_from_state(
    config: GeneratorConfig, state: Mapping[str, torch.Tensor]
) -> nn.Module:
    with torch.device("meta"):
        module = build_generator(config)
    _compare_layout(state, module, "the generator weights", f"{config.netG} generator")
    return _materialize(module, state)


def build_encoder_from_state(config: EncoderConfig, state: Mapping[str, torch.Tensor]) -> Encoder:
    with torch.device("meta"):
        module = Encoder.from_config(config)
    _compare_layout(state, module, "the encoder weights", "feature encoder")
    encoder = _materialize(module, state)
    assert isinstance(encoder, Encoder)
    return encoder
