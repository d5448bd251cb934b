# SPDX-License-Identifier: Apache-2.0
"""The networks of a training run and their optimizers: G, D and (for --instance_feat) E
initialised as in the public code, the Adam optimizers with the public learning-rate
schedule, weights copied from --load_pretrain, and DistributedDataParallel wrappers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from p2phd.models import Encoder, GeneratorConfig, MultiscaleDiscriminator, build_generator

from .losses import load_vgg19
from .options import TrainOptions


def init_weights(module: nn.Module) -> None:
    """Public `weights_init`: conv weights N(0, 0.02); batch-norm scale N(1, 0.02), shift 0."""
    name = type(module).__name__
    if "Conv" in name and getattr(module, "weight", None) is not None:
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif "BatchNorm2d" in name and getattr(module, "weight", None) is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def check_buildable(opts: TrainOptions, stride: int, *, ops_on_device: bool) -> None:
    """Fail now, before reading the data set, for networks that cannot be trained here."""
    if "crop" in opts.resize_or_crop and opts.fineSize % stride:
        raise ValueError(
            f"--fineSize {opts.fineSize} is not divisible by {stride}, the stride of "
            "the generator (2**n_downsample_global, times 2**n_local_enhancers for local)"
        )
    if opts.use_features and not opts.load_features and not ops_on_device:
        raise RuntimeError(
            "--instance_feat on CUDA needs a CUDA build of p2phd (the encoder's "
            "instance-wise pooling runs in the native module)"
        )
    if not opts.no_vgg_loss:
        load_vgg19(opts.vgg_weights)


def build_networks(
    opts: TrainOptions, config: GeneratorConfig, device: torch.device
) -> tuple[nn.Module, MultiscaleDiscriminator, Encoder | None]:
    """(G, D, E) seeded with --seed, initialised, on `device`, in training mode."""
    torch.manual_seed(opts.seed)
    net_g = build_generator(config)
    net_g.apply(init_weights)
    d_input_nc = opts.label_nc + int(opts.use_instance) + opts.output_nc
    net_d = MultiscaleDiscriminator(
        d_input_nc,
        opts.ndf,
        opts.n_layers_D,
        use_sigmoid=False,  # the vanilla loss takes logits
        num_d=opts.num_D,
        get_interm_feat=not opts.no_ganFeat_loss,
    )
    net_d.apply(init_weights)
    net_e: Encoder | None = None
    if opts.instance_feat and not opts.load_features:
        net_e = Encoder.from_config(opts.encoder_config())
        net_e.apply(init_weights)
    for net in (net_g, net_d, net_e):
        if net is not None:
            net.to(device).train()
    return net_g, net_d, net_e


def g_parameters(
    net_g: nn.Module, net_e: nn.Module | None, n_local_enhancers: int, fixed_global: bool
) -> list[nn.Parameter]:
    """G's trained parameters (only the outermost enhancer while the global part is
    fixed, as in the public code), then E's."""
    params = []
    prefix = f"model{n_local_enhancers}"
    for key, param in net_g.named_parameters():
        trainable = not fixed_global or key.startswith(prefix)
        param.requires_grad_(trainable)
        if trainable:
            params.append(param)
    if net_e is not None:
        params += list(net_e.parameters())
    return params


def adam(params: list[nn.Parameter], lr: float, beta1: float) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999))


def scheduled_lr(opts: TrainOptions, epoch: int) -> float:
    """Constant for niter epochs, then minus lr / niter_decay after each further epoch."""
    if opts.niter_decay <= 0:
        return opts.lr
    done = max(0, epoch - 1 - opts.niter)
    return opts.lr * max(0.0, 1.0 - done / opts.niter_decay)


def load_matching(module: nn.Module, path: Path) -> tuple[int, int]:
    """Copy the tensors of a state-dict file whose names and shapes match (public
    `load_network` for a pretrained net with other layers); returns (copied, total)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    own = module.state_dict()
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    own.update(matched)
    module.load_state_dict(own)
    return len(matched), len(own)


def load_pretrain(
    directory: Path,
    which: str,
    nets: dict[str, nn.Module | None],
    log: Callable[[str], None],
) -> None:
    """--load_pretrain: the matching tensors of `<which>_net_<role>.pth` into {role: net}."""
    g_path = directory / f"{which}_net_G.pth"
    if not g_path.is_file():
        raise FileNotFoundError(f"--load_pretrain: no {g_path}")
    net_g = nets["G"]
    assert net_g is not None
    copied, total = load_matching(net_g, g_path)
    if copied == 0:
        raise ValueError(
            f"--load_pretrain: no tensor of {g_path} fits this generator (a global "
            "generator for a local enhancer needs ngf twice the enhancer's --ngf)"
        )
    log(f"loaded {copied}/{total} generator tensors from {g_path}")
    for role in ("D", "E"):
        net = nets.get(role)
        path = directory / f"{which}_net_{role}.pth"
        if net is not None and path.is_file():
            copied, total = load_matching(net, path)
            log(f"loaded {copied}/{total} {role} tensors from {path}")


def wrap_distributed(
    nets: tuple[nn.Module, nn.Module, nn.Module | None], device: torch.device
) -> tuple[nn.Module, nn.Module, nn.Module | None]:
    """(G, D, E) in DistributedDataParallel, which averages the gradients over the ranks."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    net_g, net_d, net_e = nets
    return (
        DDP(net_g, device_ids=ids),
        DDP(net_d, device_ids=ids),
        DDP(net_e, device_ids=ids) if net_e is not None else None,
    )
