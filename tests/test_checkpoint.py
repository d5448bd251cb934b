# SPDX-License-Identifier: Apache-2.0
"""Checkpoint loading: public pix2pixHD files, architecture inference, bundles, safety."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from p2phd import checkpoint, reference
from p2phd.checkpoint import CheckpointError, LoadedModel
from p2phd.models import Encoder, EncoderConfig, GeneratorConfig, build_generator

TINY = {"ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1, "n_blocks_local": 1}


@pytest.fixture(autouse=True)
def ops_available(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the native p2phd.ops when built, else a stub backed by the pure-torch reference."""
    try:
        import p2phd.ops  # noqa: F401
    except ImportError:
        stub = types.ModuleType("p2phd.ops")
        stub.instance_mean = reference.instance_mean  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "p2phd.ops", stub)
        monkeypatch.setattr("p2phd.ops", stub, raising=False)


def _random_generator(config: GeneratorConfig, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    generator = build_generator(config).eval()
    with torch.no_grad():  # biases too, so no parameter is accidentally zero
        for p in generator.parameters():
            p.normal_(0, 0.05)
    return generator


def _write_public(
    directory: Path,
    config: GeneratorConfig,
    *,
    encoder: EncoderConfig | None = None,
    clusters: dict[int, np.ndarray] | None = None,
    epoch: str = "latest",
) -> dict[str, torch.nn.Module]:
    """What the public code leaves in checkpoints/<name>/ (torch.save of state dicts)."""
    directory.mkdir(parents=True, exist_ok=True)
    nets: dict[str, torch.nn.Module] = {"G": _random_generator(config)}
    if encoder is not None:
        torch.manual_seed(1)
        nets["E"] = Encoder.from_config(encoder).eval()
    for role, net in nets.items():
        torch.save(net.state_dict(), directory / f"{epoch}_net_{role}.pth")
    if clusters is not None:
        np.save(directory / "features_clustered_010.npy", clusters)
    return nets


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype and sa[key].shape == sb[key].shape, key
        assert torch.equal(sa[key].view(torch.int32), sb[key].view(torch.int32)), key  # bitwise


def _assert_same_clusters(a: dict | None, b: dict | None) -> None:
    assert (a is None) == (b is None)
    if a is None or b is None:
        return
    assert sorted(a) == sorted(b)
    for label in a:
        assert a[label].dtype == b[label].dtype
        assert a[label].tobytes() == b[label].tobytes()


CONFIGS = [
    GeneratorConfig(**TINY),
    GeneratorConfig(ngf=8, n_downsample_global=3, n_blocks_global=0),
    GeneratorConfig(netG="local", **TINY),
    GeneratorConfig(netG="local", n_local_enhancers=2, **{**TINY, "n_blocks_local": 2}),
    GeneratorConfig(netG="local", ngf=8, n_downsample_global=1, n_blocks_global=3),
    GeneratorConfig(label_nc=10, use_instance=False, output_nc=1, **TINY),
    GeneratorConfig(instance_feat=True, netG="local", **TINY),
]


# --- architecture inference ---------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.netG}-{c.input_nc}-{c.ngf}")
def test_infer_generator_config_round_trips(config: GeneratorConfig) -> None:
    state = build_generator(config).state_dict()
    inferred = checkpoint.infer_generator_config(
        state, label_nc=config.label_nc, use_instance=config.use_instance
    )
    if config.netG == "global":  # enhancer fields mean nothing there and keep their defaults
        config = dataclasses.replace(config, n_local_enhancers=1, n_blocks_local=3)
    assert inferred == config


def test_infer_label2city_1024p_from_meta_tensors() -> None:
    with torch.device("meta"):
        state = build_generator(GeneratorConfig(netG="local", ngf=32)).state_dict()
    config = checkpoint.infer_generator_config(state)
    assert config == GeneratorConfig(netG="local", ngf=32)
    assert config.input_nc == 36


def test_infer_encoder_config() -> None:
    config = EncoderConfig(input_nc=3, feat_num=5, nef=4, n_downsample=3)
    assert checkpoint.infer_encoder_config(Encoder.from_config(config).state_dict()) == config


# --- public checkpoints -------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS[:4], ids=lambda c: f"{c.netG}-{c.n_local_enhancers}")
def test_load_public_gives_the_same_image(tmp_path: Path, config: GeneratorConfig) -> None:
    nets = _write_public(tmp_path, config)
    loaded = checkpoint.load_public(tmp_path, label_nc=config.label_nc)
    assert loaded.config.to_dict() | {"n_blocks_local": 1} == config.to_dict() | {
        "n_blocks_local": 1
    }
    assert loaded.encoder is None and loaded.clusters is None
    x = torch.randn(1, config.input_nc, 64, 128)
    with torch.no_grad():
        assert torch.equal(loaded.generator(x), nets["G"](x))
    assert not loaded.generator.training


def test_load_public_by_file_and_epoch(tmp_path: Path) -> None:
    config = GeneratorConfig(**TINY)
    nets = _write_public(tmp_path, config, epoch="20")
    by_file = checkpoint.load_public(tmp_path / "20_net_G.pth")
    by_epoch = checkpoint.load_public(tmp_path, which_epoch="20")
    _assert_same_state(by_file.generator, nets["G"])
    _assert_same_state(by_epoch.generator, nets["G"])
    with pytest.raises(FileNotFoundError, match="20_net_G.pth; pass which_epoch"):
        checkpoint.load_public(tmp_path)


def test_feature_model_loads_with_encoder_and_clusters(tmp_path: Path) -> None:
    config = GeneratorConfig(netG="local", instance_feat=True, **TINY)
    assert config.input_nc == 39
    rng = np.random.default_rng(0)
    clusters = {26: rng.random((10, 3)), 24: rng.random((3, 3)), 33: rng.random((10, 3))}
    encoder_config = EncoderConfig(feat_num=3, nef=4, n_downsample=2)
    nets = _write_public(tmp_path, config, encoder=encoder_config, clusters=clusters)

    loaded = checkpoint.load_public(tmp_path)
    assert loaded.config.instance_feat and loaded.config.input_nc == 39
    assert loaded.encoder_config == encoder_config
    assert loaded.encoder is not None
    _assert_same_state(loaded.encoder, nets["E"])
    assert loaded.clusters is not None
    assert {k: v.shape for k, v in loaded.clusters.items()} == {
        26: (10, 3),
        24: (3, 3),
        33: (10, 3),
    }
    _assert_same_clusters(loaded.clusters, clusters)

    image = torch.randn(1, 3, 64, 128)
    instances = torch.zeros(1, 64, 128, dtype=torch.long)
    instances[:, 20:40, 30:90] = 26001
    with torch.no_grad():
        features = loaded.encoder(image, instances)
    assert features.shape == (1, 3, 64, 128)
    assert torch.unique(features[0, 0][instances[0] == 26001]).numel() == 1


def test_feature_model_cluster_width_must_match(tmp_path: Path) -> None:
    config = GeneratorConfig(instance_feat=True, **TINY)
    _write_public(tmp_path, config, clusters={26: np.zeros((10, 4))})
    with pytest.raises(CheckpointError, match="4 features, the model has feat_num=3"):
        checkpoint.load_public(tmp_path)


def test_cluster_labels_must_be_labels(tmp_path: Path) -> None:
    config = GeneratorConfig(instance_feat=True, **TINY)
    _write_public(tmp_path, config, clusters={26: np.zeros((2, 3)), 40: np.zeros((2, 3))})
    with pytest.raises(CheckpointError, match=r"label\(s\) \[40\], beyond label_nc=35"):
        checkpoint.load_public(tmp_path)


def test_encoder_width_must_match(tmp_path: Path) -> None:
    config = GeneratorConfig(instance_feat=True, **TINY)
    _write_public(tmp_path, config, encoder=EncoderConfig(feat_num=5, nef=4, n_downsample=1))
    with pytest.raises(CheckpointError, match="encodes 5 features .* feat_num=3"):
        checkpoint.load_public(tmp_path)


def test_label_nc_mismatch_names_both_numbers(tmp_path: Path) -> None:
    _write_public(tmp_path, GeneratorConfig(**TINY))  # 36 input channels
    with pytest.raises(CheckpointError, match=r"take 36 input channels.*label_nc=20.* give 21"):
        checkpoint.load_public(tmp_path, label_nc=20)
    with pytest.raises(CheckpointError, match=r"take 36 input channels.* give 39"):
        checkpoint.load_public(tmp_path, instance_feat=True)
    # the same weights are fine when the split is told correctly
    assert checkpoint.load_public(tmp_path, label_nc=36, use_instance=False).config.input_nc == 36


def test_old_pytorch_instance_norm_stats_are_ignored(tmp_path: Path) -> None:
    # PyTorch < 0.4 saved (unused) running stats for InstanceNorm; the public code's
    # released checkpoints may carry them. They must not stop the load.
    config = GeneratorConfig(**TINY)
    generator = _random_generator(config)
    state = OrderedDict(generator.state_dict())
    state["model.2.running_mean"] = torch.zeros(4)
    state["model.2.running_var"] = torch.ones(4)
    torch.save(state, tmp_path / "latest_net_G.pth")
    _assert_same_state(checkpoint.load_public(tmp_path).generator, generator)


def test_data_parallel_prefix_and_legacy_format(tmp_path: Path) -> None:
    config = GeneratorConfig(**TINY)
    generator = _random_generator(config)
    state = {f"module.{k}": v for k, v in generator.state_dict().items()}
    torch.save(state, tmp_path / "latest_net_G.pth", _use_new_zipfile_serialization=False)
    _assert_same_state(checkpoint.load_public(tmp_path).generator, generator)


def test_batch_norm_checkpoint_is_refused(tmp_path: Path) -> None:
    state = dict(build_generator(GeneratorConfig(**TINY)).state_dict())
    state.update({"model.2.weight": torch.ones(4), "model.2.bias": torch.zeros(4)})
    state.update({"model.2.running_mean": torch.zeros(4), "model.2.running_var": torch.ones(4)})
    torch.save(state, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match="--norm batch"):
        checkpoint.load_public(tmp_path)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"fc.weight": torch.zeros(3, 3)}, "no 7x7 input convolution"),
        ({"model.1.weight": torch.zeros(8, 36, 7, 7)}, "no final 7x7 convolution"),
        ([torch.zeros(3)], "not a state dict"),
        ({"model.1.weight": torch.zeros(8, 36, 7, 7, dtype=torch.int8)}, "non-floating-point"),
    ],
)
def test_wrong_architecture_is_refused(tmp_path: Path, state: object, message: str) -> None:
    torch.save(state, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load_public(tmp_path)


def test_missing_and_reshaped_layers_are_named(tmp_path: Path) -> None:
    state = dict(build_generator(GeneratorConfig(netG="local", **TINY)).state_dict())
    del state["model1_2.0.conv_block.5.bias"]
    torch.save(state, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match=r"missing \['model1_2.0.conv_block.5.bias'\]"):
        checkpoint.load_public(tmp_path)

    state = dict(build_generator(GeneratorConfig(**TINY)).state_dict())
    state["model.10.conv_block.5.weight"] = torch.zeros(16, 16, 5, 5)
    torch.save(state, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match=r"model.10.conv_block.5.weight: file \[16, 16, 5"):
        checkpoint.load_public(tmp_path)


def test_discriminator_file_is_not_a_generator(tmp_path: Path) -> None:
    from p2phd.models import MultiscaleDiscriminator

    torch.save(MultiscaleDiscriminator(39, 4, 2).state_dict(), tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match="does not hold a pix2pixHD generator"):
        checkpoint.load_public(tmp_path)


def test_truncated_and_corrupted_weights(tmp_path: Path) -> None:
    _write_public(tmp_path, GeneratorConfig(**TINY))
    path = tmp_path / "latest_net_G.pth"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        checkpoint.load_public(tmp_path)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupted"):
        checkpoint.load_public(tmp_path)


class _Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.target}",))


def test_malicious_weights_pickle_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    torch.save({"model.1.weight": _Exploit(target)}, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match="refused"):
        checkpoint.load_public(tmp_path)
    assert not target.exists()


def _npy_with_pickle(payload: bytes) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|O", "fortran_order": False, "shape": ()}
    )
    return header.getvalue() + payload  # the header writer includes the magic


def test_malicious_cluster_pickle_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "features_clustered_010.npy"
    path.write_bytes(_npy_with_pickle(pickle.dumps(_Exploit(target), protocol=2)))
    with pytest.raises(CheckpointError, match=r"refusing to load '(posix|nt)\.system'"):
        checkpoint.load_clusters(path)
    assert not target.exists()
    # the same through np.save of a dict whose value smuggles the call
    np.save(path, {26: _Exploit(target)}, allow_pickle=True)
    with pytest.raises(CheckpointError, match="refusing to load"):
        checkpoint.load_clusters(path)
    assert not target.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({26: "ten"}, "must be a 2-D numeric array"),
        ({26: np.zeros(3)}, "must be a 2-D numeric array"),
        ({"car": np.zeros((1, 3))}, "is not a non-negative int"),
        ([np.zeros((1, 3))], "not a dict of clusters"),
    ],
)
def test_cluster_content_is_checked(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "c.npy"
    wrapped = np.empty((), dtype=object)  # what np.save makes of any Python object
    wrapped[()] = content
    np.save(path, wrapped)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load_clusters(path)


def test_cluster_file_variants(tmp_path: Path) -> None:
    path = tmp_path / "c.npy"
    np.save(path, np.zeros((10, 3)))
    with pytest.raises(CheckpointError, match="holds a float64 array"):
        checkpoint.load_clusters(path)
    clusters = {7: np.arange(6.0).reshape(2, 3), 8: np.zeros((1, 3))}
    # protocol 2 (Python 2 era and np.save under old numpy) goes through other globals
    array = np.empty((), dtype=object)
    array[()] = clusters
    path.write_bytes(_npy_with_pickle(pickle.dumps(array, protocol=2)))
    _assert_same_clusters(checkpoint.load_clusters(path), clusters)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        checkpoint.load_clusters(path)
    path.write_bytes(b"not numpy at all")
    with pytest.raises(CheckpointError, match="not a .npy file"):
        checkpoint.load_clusters(path)


def test_cluster_numpy_scalar_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.npy"
    np.save(path, {np.int64(26): np.ones((2, 3), dtype=np.float32)})
    clusters = checkpoint.load_clusters(path, feat_num=3)
    assert list(clusters) == [26] and type(next(iter(clusters))) is int
    assert clusters[26].dtype == np.float32


# --- bundles ------------------------------------------------------------------------------------


def _feature_model(tmp_path: Path) -> tuple[Path, dict[str, torch.nn.Module], dict]:
    config = GeneratorConfig(netG="local", instance_feat=True, **TINY)
    rng = np.random.default_rng(0)
    clusters = {26: rng.random((10, 3)), 24: rng.random((2, 3))}
    public = tmp_path / "public"
    nets = _write_public(
        public, config, encoder=EncoderConfig(nef=4, n_downsample=2), clusters=clusters
    )
    return public, nets, clusters


@pytest.mark.parametrize("name", ["bundle.safetensors", "bundle_dir"])
def test_public_bundle_public_is_bit_exact(tmp_path: Path, name: str) -> None:
    public, nets, clusters = _feature_model(tmp_path)
    first = checkpoint.public_to_bundle(public, tmp_path / name)
    bundle = checkpoint.load_bundle(tmp_path / name)
    assert bundle.config == first.config
    assert bundle.encoder_config == first.encoder_config
    _assert_same_state(bundle.generator, nets["G"])
    _assert_same_state(bundle.encoder, nets["E"])
    _assert_same_clusters(bundle.clusters, clusters)

    written = checkpoint.bundle_to_public(tmp_path / name, tmp_path / "again")
    assert sorted(p.name for p in written.values()) == [
        "features_clustered_010.npy",
        "latest_net_E.pth",
        "latest_net_G.pth",
    ]
    for role in ("G", "E"):
        original = torch.load(public / f"latest_net_{role}.pth", weights_only=True)
        again = torch.load(written[role], weights_only=True)
        assert list(original) == list(again)
        assert all(torch.equal(original[k], again[k]) for k in original)
    _assert_same_clusters(np.load(written["clusters"], allow_pickle=True).item(), clusters)
    reloaded = checkpoint.load_public(tmp_path / "again")
    _assert_same_state(reloaded.generator, nets["G"])


def test_bundle_to_bundle_is_byte_identical(tmp_path: Path) -> None:
    public, _, _ = _feature_model(tmp_path)
    checkpoint.public_to_bundle(public, tmp_path / "a.safetensors")
    checkpoint.save_bundle(
        checkpoint.load_bundle(tmp_path / "a.safetensors"), tmp_path / "b.safetensors"
    )
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    checkpoint.save_bundle(checkpoint.load(tmp_path / "b.safetensors"), tmp_path / "dir")
    again = checkpoint.load(tmp_path / "dir")
    checkpoint.save_bundle(again, tmp_path / "dir2")
    for name in ("config.json", "weights.safetensors"):
        assert (tmp_path / "dir" / name).read_bytes() == (tmp_path / "dir2" / name).read_bytes()
    assert (tmp_path / "dir" / "weights.safetensors").read_bytes() == (
        tmp_path / "a.safetensors"
    ).read_bytes()


def test_bundle_describes_itself(tmp_path: Path) -> None:
    public, _, _ = _feature_model(tmp_path)
    checkpoint.public_to_bundle(public, tmp_path / "dir")
    description = json.loads((tmp_path / "dir" / "config.json").read_text())
    assert description["format"] == "p2phd-bundle" and description["version"] == 1
    assert GeneratorConfig.from_json(description["generator"]).input_nc == 39
    assert description["encoder"] == {"input_nc": 3, "feat_num": 3, "nef": 4, "n_downsample": 2}
    assert description["clusters"] == [24, 26]


def test_plain_generator_bundle(tmp_path: Path) -> None:
    config = GeneratorConfig(**TINY)
    generator = _random_generator(config)
    checkpoint.save_bundle(LoadedModel(config, generator), tmp_path / "g.safetensors")
    loaded = checkpoint.load(tmp_path / "g.safetensors")
    assert loaded.config == config and loaded.encoder is None and loaded.clusters is None
    _assert_same_state(loaded.generator, generator)
    with pytest.raises(TypeError, match="carries its own configuration"):
        checkpoint.load(tmp_path / "g.safetensors", label_nc=20)


def test_corrupted_bundles_are_refused(tmp_path: Path) -> None:
    public, _, _ = _feature_model(tmp_path)
    path = tmp_path / "b.safetensors"
    checkpoint.public_to_bundle(public, path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        checkpoint.load_bundle(path)
    flipped = bytearray(raw)
    flipped[-5] ^= 0x40  # inside the tensor data: the structure is fine, the digest is not
    path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="corrupted: its tensors do not match"):
        checkpoint.load_bundle(path)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError, match="no p2phd description"):
        checkpoint.load_bundle(path)


def test_mixed_bundle_directory_is_refused(tmp_path: Path) -> None:
    config = GeneratorConfig(**TINY)
    checkpoint.save_bundle(LoadedModel(config, _random_generator(config, 0)), tmp_path / "a")
    checkpoint.save_bundle(LoadedModel(config, _random_generator(config, 1)), tmp_path / "b")
    os.replace(tmp_path / "b" / "config.json", tmp_path / "a" / "config.json")
    with pytest.raises(CheckpointError, match="do not belong to the same save"):
        checkpoint.load_bundle(tmp_path / "a")


# --- atomic saving -----------------------------------------------------------------------------


def _fail_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fails after the bytes are written, just before the rename: the worst moment.
    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)


@pytest.mark.parametrize("name", ["b.safetensors", "bdir"])
def test_failing_bundle_save_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    config = GeneratorConfig(**TINY)
    model = LoadedModel(config, _random_generator(config))
    out = tmp_path / "out"
    out.mkdir()
    _fail_fsync(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save_bundle(model, out / name)
    assert [p for p in out.rglob("*") if p.is_file()] == []


def test_failing_overwrite_keeps_the_old_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = GeneratorConfig(**TINY)
    path = tmp_path / "b.safetensors"
    checkpoint.save_bundle(LoadedModel(config, _random_generator(config, 0)), path)
    before = path.read_bytes()
    _fail_fsync(monkeypatch)
    with pytest.raises(OSError):
        checkpoint.save_bundle(LoadedModel(config, _random_generator(config, 1)), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.safetensors"]


def test_failing_public_export_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public, _, _ = _feature_model(tmp_path)
    model = checkpoint.load_public(public)
    _fail_fsync(monkeypatch)
    with pytest.raises(OSError):
        checkpoint.export_public(model, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def _python2_style_pickle(obj: object) -> bytes:
    """Protocol 2 with raw byte strings (BINSTRING) and numpy.core names, as Python 2 wrote."""
    import struct

    class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
        dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

        def save_bytes(self, data: bytes) -> None:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
            self.memoize(data)

        dispatch[bytes] = save_bytes

    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def test_python2_cluster_file(tmp_path: Path) -> None:
    # The public features_clustered_010.npy files date from Python 2 + numpy 1.x.
    clusters = {26: np.linspace(-1, 1, 30).reshape(10, 3), 24: np.ones((1, 3))}
    array = np.empty((), dtype=object)
    array[()] = clusters
    payload = _python2_style_pickle(array)
    assert b"numpy.core.multiarray" in payload and b"_codecs" not in payload
    path = tmp_path / "features_clustered_010.npy"
    path.write_bytes(_npy_with_pickle(payload))
    _assert_same_clusters(np.load(path, allow_pickle=True, encoding="latin1").item(), clusters)
    _assert_same_clusters(checkpoint.load_clusters(path, feat_num=3), clusters)
