# SPDX-License-Identifier: Apache-2.0
"""The fused backend renders what the torch backend renders, for every generator shape."""

import numpy as np
import pytest
import torch

from p2phd import checkpoint
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime
from p2phd.runtime.fused_backend import FusedBackend
from p2phd.runtime.map_feeds import Maps

CONFIGS = {
    "local": GeneratorConfig(
        netG="local", ngf=4, n_downsample_global=2, n_blocks_global=2, n_blocks_local=1
    ),
    "local, two enhancers": GeneratorConfig(
        netG="local", ngf=4, n_downsample_global=1, n_blocks_global=1, n_local_enhancers=2,
        n_blocks_local=1,
    ),
    "local, no local blocks": GeneratorConfig(
        netG="local", ngf=4, n_downsample_global=1, n_blocks_global=0, n_blocks_local=0
    ),
    "global with features": GeneratorConfig(
        netG="global", ngf=8, n_downsample_global=2, n_blocks_global=2, instance_feat=True
    ),
    "global without instances": GeneratorConfig(
        netG="global", ngf=8, n_downsample_global=2, n_blocks_global=1, use_instance=False
    ),
}  # fmt: skip


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def _bundle(config: GeneratorConfig, path) -> str:
    torch.manual_seed(0)
    model = checkpoint.LoadedModel(config=config, generator=build_generator(config))
    checkpoint.save_bundle(model, path)
    return path


def _inputs(config: GeneratorConfig, seed: int, height: int = 64, width: int = 128):
    scene = synthetic_scene(seed, height, width)
    instances = scene.instances if config.use_instance else None
    features = None
    if config.instance_feat:
        rng = np.random.default_rng(seed)
        features = rng.normal(size=(config.feat_num, height, width)).astype(np.float32)
    return scene.labels, instances, features


def _levels_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int32) - b.astype(np.int32))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name", CONFIGS)
def test_cpu_fused_matches_torch(name, channels_last, tmp_path):
    config = CONFIGS[name]
    path = _bundle(config, tmp_path / "model")
    torch_runtime = Runtime(path, backend="torch", device="cpu")
    fused = Runtime(path, backend="fused", device="cpu", channels_last=channels_last)
    assert fused.backend == "fused" and fused.precision == "fp32"
    labels, instances, features = _inputs(config, seed=5)
    expected = torch_runtime.render(labels, instances, features=features)
    result = fused.render(labels, instances, features=features)
    assert result.shape == expected.shape and result.dtype == np.uint8
    # Float sums in another order move a few values across a rounding boundary.
    apart = _levels_apart(result, expected)
    assert apart.max() <= 1 and (apart > 0).mean() < 0.005


def test_odd_sizes_and_batches(tmp_path):
    config = CONFIGS["local"]
    path = _bundle(config, tmp_path / "model")
    scenes = [synthetic_scene(seed, 50, 70) for seed in (1, 2)]
    labels = torch.from_numpy(np.stack([s.labels for s in scenes]))
    instances = torch.from_numpy(np.stack([s.instances for s in scenes]))
    expected = Runtime(path, backend="torch", device="cpu").render(labels, instances)
    result = Runtime(path, backend="fused", device="cpu").render(labels, instances)
    assert result.shape == (2, 50, 70, 3)
    assert _levels_apart(result.numpy(), expected.numpy()).max() <= 1


def test_cityscapes_maps(tmp_path, cityscapes):
    config = GeneratorConfig(netG="local", ngf=4, n_downsample_global=3, n_blocks_global=1)
    path = _bundle(config, tmp_path / "model")
    torch_runtime = Runtime(path, backend="torch", device="cpu")
    fused = Runtime(path, backend="fused", device="cpu")
    for name, labels, instances in cityscapes[:3]:
        labels, instances = labels[::4, ::4], instances[::4, ::4].astype(np.int32)
        apart = _levels_apart(
            fused.render(labels, instances), torch_runtime.render(labels, instances)
        )
        assert apart.max() <= 1 and (apart > 0).mean() < 0.005, name


def test_refusals(tmp_path):
    path = _bundle(CONFIGS["local"], tmp_path / "model")
    runtime = Runtime(path, backend="fused", device="cpu")
    labels, instances, _ = _inputs(CONFIGS["local"], seed=1)
    with pytest.raises(ValueError, match="uint8 images only"):
        runtime.render(labels, instances, output="float")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 35\)"):
        runtime.render(np.full_like(labels, 40), instances)
    with pytest.raises(ValueError, match="apply to the fused backend"):
        Runtime(path, backend="torch", channels_last=True)
    with pytest.raises(ValueError, match="captures its own CUDA graph"):
        Runtime(path, backend="fused", compile_mode="max-autotune")
    with pytest.raises(ValueError, match="GlobalGenerator and LocalEnhancer"):
        FusedBackend(torch.nn.Identity(), CONFIGS["local"], torch.device("cpu"), "fp32")


@pytest.mark.cuda
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name", ["local", "global with features"])
def test_cuda_fp16_graph_matches_cpu_fp32(name, channels_last, tmp_path):
    config = CONFIGS[name]
    path = _bundle(config, tmp_path / "model")
    reference = Runtime(path, backend="torch", device="cpu")
    fused = Runtime(
        path, backend="fused", device="cuda", precision="fp16", channels_last=channels_last
    )
    first = None
    for seed in (1, 2, 1):  # a replay with new inputs, then the first inputs again
        labels, instances, features = _inputs(config, seed)
        expected = reference.render(labels, instances, features=features)
        on_gpu = [None if a is None else torch.from_numpy(a).cuda() for a in (labels, instances)]
        features = None if features is None else torch.from_numpy(features).cuda()
        result = fused.render(*on_gpu, features=features)
        assert result.is_cuda and psnr(result.cpu().numpy(), expected) >= 40
        if first is None:
            first = result
    assert torch.equal(first, result)  # the graph's output was copied, not aliased


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("name", ["local", "global with features"])
def test_forward_compiles_as_one_graph(name, channels_last, tmp_path):
    # fullgraph=True fails on any graph break: the p2phd ops must trace as custom operators
    # whose fake versions give the real outputs' shapes and layouts.
    config = CONFIGS[name]
    model = checkpoint.load(_bundle(config, tmp_path / "model"))
    backend = FusedBackend(model.generator, config, torch.device("cpu"), "fp32", channels_last)
    labels, instances, features = _inputs(config, seed=2, height=32, width=64)
    inputs = [None if a is None else torch.from_numpy(a)[None] for a in (labels, instances)]
    inputs.append(None if features is None else torch.from_numpy(features)[None])
    compiled = torch.compile(backend.forward, backend="aot_eager", fullgraph=True)
    with torch.inference_mode():
        assert torch.equal(compiled(Maps(*inputs)), backend.forward(Maps(*inputs)))
