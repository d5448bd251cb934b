# SPDX-License-Identifier: Apache-2.0
"""Network definitions: public state-dict layout, config, forward shapes, encoder pooling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import p2phd
from p2phd import reference
from p2phd.models import (
    Encoder,
    EncoderConfig,
    GeneratorConfig,
    GlobalGenerator,
    LocalEnhancer,
    MultiscaleDiscriminator,
    NLayerDiscriminator,
    build_generator,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture
def ops_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the native p2phd.ops when built, else a stub backed by the pure-torch reference."""
    try:
        import p2phd.ops  # noqa: F401
    except ImportError:
        stub = types.ModuleType("p2phd.ops")
        stub.instance_mean = reference.instance_mean  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "p2phd.ops", stub)
        monkeypatch.setattr("p2phd.ops", stub, raising=False)


# --- GeneratorConfig ---------------------------------------------------------------------------


def test_config_defaults_are_the_public_ones() -> None:
    config = GeneratorConfig()
    assert (config.label_nc, config.use_instance, config.feat_num, config.instance_feat) == (
        35,
        True,
        3,
        False,
    )
    assert (config.netG, config.ngf, config.n_downsample_global, config.n_blocks_global) == (
        "global",
        64,
        4,
        9,
    )
    assert (config.n_local_enhancers, config.n_blocks_local, config.output_nc) == (1, 3, 3)
    assert config.input_nc == 36


@pytest.mark.parametrize(
    ("kwargs", "input_nc"),
    [
        ({}, 36),
        ({"use_instance": False}, 35),
        ({"instance_feat": True}, 39),
        ({"instance_feat": True, "feat_num": 5, "use_instance": False}, 40),
        ({"feat_num": 0}, 36),
        ({"label_nc": 182}, 183),
    ],
)
def test_config_input_nc(kwargs: dict, input_nc: int) -> None:
    assert GeneratorConfig(**kwargs).input_nc == input_nc


def test_config_json_round_trip() -> None:
    config = GeneratorConfig(netG="local", ngf=32, n_local_enhancers=2, instance_feat=True)
    text = config.to_json()
    assert json.loads(text)["ngf"] == 32
    assert GeneratorConfig.from_json(text) == config
    assert GeneratorConfig.from_json(config.to_dict()) == config
    assert GeneratorConfig.from_dict(json.loads(text)) == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"netG": "unet"}, "netG must be 'global' or 'local'"),
        ({"ngf": 0}, "ngf must be >= 1"),
        ({"label_nc": 3.5}, "label_nc must be an int"),
        ({"n_blocks_global": -1}, "n_blocks_global must be >= 0"),
        ({"use_instance": 1}, "use_instance must be a bool"),
        ({"netG": "local", "n_local_enhancers": 0}, "n_local_enhancers must be >= 1"),
        ({"instance_feat": True, "feat_num": 0}, "needs feat_num >= 1"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**kwargs)


def test_config_json_errors() -> None:
    with pytest.raises(ValueError, match="unknown GeneratorConfig field.*norm"):
        GeneratorConfig.from_json('{"norm": "batch"}')
    with pytest.raises(ValueError, match="not valid JSON"):
        GeneratorConfig.from_json("{ngf: 3")
    with pytest.raises(ValueError, match="needs a JSON object"):
        GeneratorConfig.from_json("[1, 2]")


# --- public state-dict layout -----------------------------------------------------------------


def test_label2city_1024p_state_dict_matches_public_layout() -> None:
    expected = json.loads((DATA / "label2city_1024p_state_dict.json").read_text())
    config = GeneratorConfig(netG="local", ngf=32)
    assert config.input_nc == expected["input_nc"] == 36
    with torch.device("meta"):  # shapes only: the real model would be 730 MB
        generator = build_generator(config)
    assert isinstance(generator, LocalEnhancer)
    got = [[k, list(v.shape)] for k, v in generator.state_dict().items()]
    assert got == expected["keys"]  # same keys, same shapes, same order
    total = sum(v.numel() for v in generator.state_dict().values())
    assert total == expected["total_parameters"] == 182_857_059


def test_norm_layers_have_no_state() -> None:
    # InstanceNorm without affine or running stats: only convolutions own parameters.
    generator = GlobalGenerator(36, 3, 4, 2, 1)
    assert all(k.split(".")[-1] in ("weight", "bias") for k in generator.state_dict())
    assert not list(generator.buffers())
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and not any(m.affine or m.track_running_stats for m in norms)


def test_global_generator_keys() -> None:
    keys = list(GlobalGenerator(36, 3, 4, n_downsampling=2, n_blocks=1).state_dict())
    # pad, conv, norm, relu | 2 x (conv, norm, relu) | block | 2 x (convT, norm, relu) | pad, conv
    assert keys == [
        "model.1.weight",
        "model.1.bias",
        "model.4.weight",
        "model.4.bias",
        "model.7.weight",
        "model.7.bias",
        "model.10.conv_block.1.weight",
        "model.10.conv_block.1.bias",
        "model.10.conv_block.5.weight",
        "model.10.conv_block.5.bias",
        "model.11.weight",
        "model.11.bias",
        "model.14.weight",
        "model.14.bias",
        "model.18.weight",
        "model.18.bias",
    ]


# --- forward ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        GeneratorConfig(ngf=4, n_downsample_global=3, n_blocks_global=2),
        GeneratorConfig(netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1),
        GeneratorConfig(
            netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1, n_local_enhancers=2
        ),
        GeneratorConfig(label_nc=10, use_instance=False, instance_feat=True, ngf=4),
    ],
)
def test_generator_forward_shape(config: GeneratorConfig) -> None:
    torch.manual_seed(0)
    generator = build_generator(config).eval()
    x = torch.randn(2, config.input_nc, 64, 128)
    with torch.no_grad():
        y = generator(x)
    assert y.shape == (2, 3, 64, 128)
    # The output is tanh of the last convolution of what reaches it (its 3 padded rows on
    # each side included), computed here by hand from the captured input.
    last = [m for m in generator.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    seen: list[torch.Tensor] = []
    handle = last.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    with torch.no_grad():
        y = generator(x)
    handle.remove()
    assert last.kernel_size == (7, 7) and seen[0].shape[-2:] == (70, 134)
    expected = torch.tanh(torch.nn.functional.conv2d(seen[0], last.weight, last.bias))
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)
    assert y.std() > 0.01  # not a constant image
    # With the last convolution's weights zeroed, every pixel is tanh of its bias.
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-0.5, 0.25, 2.0]))
        flat = generator(x)
    torch.testing.assert_close(flat, torch.tanh(last.bias).view(1, 3, 1, 1).expand_as(flat))


def test_local_enhancer_structure() -> None:
    generator = LocalEnhancer(36, 3, ngf=4, n_downsample_global=2, n_blocks_global=1,
                              n_local_enhancers=2, n_blocks_local=2)  # fmt: skip
    names = {name.split(".")[0] for name in generator.state_dict()}
    assert names == {"model", "model1_1", "model1_2", "model2_1", "model2_2"}
    # G1 runs with 2**n ngf; enhancer n halves it; only the last one has the output conv.
    assert generator.state_dict()["model.1.weight"].shape == (16, 36, 7, 7)
    assert generator.state_dict()["model1_1.1.weight"].shape == (8, 36, 7, 7)
    assert generator.state_dict()["model2_1.1.weight"].shape == (4, 36, 7, 7)
    assert not any(isinstance(m, torch.nn.Tanh) for m in generator.model1_2)
    assert isinstance(generator.model2_2[-1], torch.nn.Tanh)
    pool = generator.downsample
    assert (pool.kernel_size, pool.stride, pool.padding, pool.count_include_pad) == (3, 2, 1, False)


def test_generator_odd_size_pyramid() -> None:
    # count_include_pad=False pooling of a constant keeps it constant, border included.
    x = torch.full((1, 3, 9, 13), 0.5)
    pooled = LocalEnhancer(3, 3, 4, 1, 0, 1, 0).downsample(x)
    assert pooled.shape == (1, 3, 5, 7)
    torch.testing.assert_close(pooled, torch.full_like(pooled, 0.5))


# --- encoder ------------------------------------------------------------------------------------


def _instances(n: int, h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    coarse = torch.randint(0, 4, (n, 1, h // 16, w // 16), generator=g)
    ids = torch.nn.functional.interpolate(coarse.float(), size=(h, w), mode="nearest").long()
    return torch.where(ids == 3, torch.full_like(ids, 26001), ids)[:, 0]


def test_encoder_instance_means(ops_available: None) -> None:
    torch.manual_seed(0)
    encoder = Encoder.from_config(EncoderConfig(feat_num=3, nef=4, n_downsample=2)).eval()
    image = torch.randn(2, 3, 64, 128)
    instances = _instances(2, 64, 128)
    with torch.no_grad():
        features = encoder(image, instances)
        raw = encoder.model(image)
        same = encoder(image, instances[:, None])  # public N x 1 x H x W instance maps
        from_float = encoder(image, instances.double())
    assert features.shape == (2, 3, 64, 128)
    torch.testing.assert_close(features, reference.instance_mean(raw, instances))
    torch.testing.assert_close(same, features)
    torch.testing.assert_close(from_float, features)
    for b in range(2):
        for i in instances[b].unique():
            mask = instances[b] == i
            values = features[b][:, mask]
            torch.testing.assert_close(values, values[:, :1].expand_as(values))
            torch.testing.assert_close(values[:, 0], raw[b][:, mask].mean(1), atol=1e-6, rtol=0)


def test_encoder_is_differentiable(ops_available: None) -> None:
    encoder = Encoder(3, 3, 4, 2)
    image = torch.randn(1, 3, 32, 32, requires_grad=True)
    encoder(image, _instances(1, 32, 32)).sum().backward()
    assert image.grad is not None and torch.isfinite(image.grad).all()
    assert encoder.model[1].weight.grad is not None


def test_encoder_checks_instance_shape(ops_available: None) -> None:
    encoder = Encoder(3, 3, 4, 1)
    with pytest.raises(ValueError, match="do not match features"):
        encoder(torch.randn(1, 3, 32, 32), torch.zeros(1, 16, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="N x 1 x H x W"):
        encoder(torch.randn(1, 3, 32, 32), torch.zeros(1, 2, 32, 32, dtype=torch.long))


def test_models_import_without_native_ops() -> None:
    # ops is imported inside Encoder.forward, so the models load before the extension is built.
    code = (
        "import sys; sys.modules['p2phd.ops'] = None\n"
        "import p2phd.models, p2phd.checkpoint\n"
        "import torch\n"
        "e = p2phd.models.Encoder(3, 3, 4, 1)\n"
        "try:\n"
        "    e(torch.zeros(1, 3, 8, 8), torch.zeros(1, 8, 8, dtype=torch.long))\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(p2phd.__file__).parent.parent)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_encoder_config_validation() -> None:
    with pytest.raises(ValueError, match="feat_num"):
        EncoderConfig(feat_num=0)


# --- discriminators -----------------------------------------------------------------------------


def test_nlayer_discriminator() -> None:
    x = torch.randn(2, 39, 64, 64)
    plain = NLayerDiscriminator(39, ndf=8, n_layers=3, use_sigmoid=False, get_interm_feat=False)
    assert plain(x).shape == (2, 1, 11, 11)  # 64 -> 33 -> 17 -> 9 (stride 2), 10, 11 (stride 1)
    interm = NLayerDiscriminator(39, ndf=8, n_layers=3, use_sigmoid=False, get_interm_feat=True)
    assert [k for k in interm.state_dict() if k.endswith("weight")] == [
        "model0.0.weight",
        "model1.0.weight",
        "model2.0.weight",
        "model3.0.weight",
        "model4.0.weight",
    ]
    outputs = interm(x)
    assert [o.shape[1] for o in outputs] == [8, 16, 32, 64, 1]


def test_multiscale_discriminator_feature_matching() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 39, 64, 128)
    net = MultiscaleDiscriminator(39, ndf=4, n_layers=2, num_d=3, get_interm_feat=True)
    keys = {k.split(".")[0] for k in net.state_dict()}
    assert keys == {f"scale{i}_layer{j}" for i in range(3) for j in range(4)}
    results = net(x)
    assert len(results) == 3 and all(len(r) == 4 for r in results)
    # finest scale first, each next one on the 2x average-pooled input
    assert results[0][0].shape[-2:] == (33, 65)
    assert results[1][0].shape[-2:] == (17, 33)
    # the finest scale runs the last registered discriminator (public order)
    first = net.scale2_layer0(x)
    torch.testing.assert_close(results[0][0], first)

    plain = MultiscaleDiscriminator(39, ndf=4, n_layers=2, num_d=2)
    assert {k.split(".")[0] for k in plain.state_dict()} == {"layer0", "layer1"}
    out = plain(x)
    assert len(out) == 2 and len(out[0]) == 1 and out[0][0].shape[1] == 1


def test_discriminator_sigmoid() -> None:
    net = NLayerDiscriminator(6, ndf=4, n_layers=2, use_sigmoid=True, get_interm_feat=False)
    y = net(torch.randn(1, 6, 32, 32))
    assert ((y > 0) & (y < 1)).all()
