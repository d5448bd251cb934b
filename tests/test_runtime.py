# SPDX-License-Identifier: Apache-2.0
import copy
import threading

import numpy as np
import pytest
import torch

from p2phd import checkpoint, ops
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import MAX_SIDE, Runtime
from p2phd.runtime.onednn import onednn_available, route_convolutions_to_onednn
from p2phd.runtime.padding import pad_to_size, reflect_indices

TINY = GeneratorConfig(
    netG="local", ngf=8, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1
)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def tiny_model() -> checkpoint.LoadedModel:
    torch.manual_seed(0)
    return checkpoint.LoadedModel(config=TINY, generator=build_generator(TINY))


@pytest.fixture(scope="module")
def bundle(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "tiny"
    checkpoint.save_bundle(tiny_model, path)
    return path


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(3, 64, 128)


def expected_float(model, labels, instances) -> torch.Tensor:
    """What render must return on the CPU: ops preprocessing, the generator with its
    convolutions in oneDNN (as the torch backend runs them there), nothing else."""
    x = ops.generator_input(torch.from_numpy(labels)[None], torch.from_numpy(instances)[None], 35)
    generator = copy.deepcopy(model.generator)
    if onednn_available():
        route_convolutions_to_onednn(generator)
    with torch.no_grad():
        return generator(x)[0]


def test_render_equals_ops_plus_generator(bundle, tiny_model, scene):
    # The torch backend: bit-equal to ops + the generator in torch (openvino, the CPU's
    # default, agrees within float rounding: test_openvino_backend.py).
    runtime = Runtime(bundle, backend="torch", device="cpu")
    assert runtime.backend == "torch" and runtime.precision == "fp32"
    assert "local generator" in runtime.describe()
    result = runtime.render(scene.labels, scene.instances, output="float")
    expected = expected_float(tiny_model, scene.labels, scene.instances)
    torch.testing.assert_close(torch.from_numpy(result), expected, rtol=0, atol=1e-5)
    image = runtime.render(scene.labels, scene.instances)
    assert image.shape == (64, 128, 3) and image.dtype == np.uint8
    assert np.array_equal(image, ops.to_uint8_image(expected.numpy()))


def test_batches_torch_in_torch_out_and_any_size(bundle, scene):
    runtime = Runtime(bundle, device="cpu")
    labels = torch.from_numpy(scene.labels[:37, :53]).repeat(2, 1, 1)
    instances = torch.from_numpy(scene.instances[:37, :53]).repeat(2, 1, 1)
    images = runtime.render(labels, instances)
    assert isinstance(images, torch.Tensor) and images.shape == (2, 37, 53, 3)
    single = runtime.render(labels[0].numpy(), instances[0].numpy())
    # Within one level, not equal: the CPU convolutions block a batch of 2 differently from
    # a single image, so float sums round differently and a value near a rounding boundary
    # may land one level apart. Bit-equal results would mean rendering images one at a time.
    assert np.abs(images[0].numpy().astype(int) - single).max() <= 1
    floats = runtime.render(labels, instances, output="float")
    single_float = runtime.render(labels[0].numpy(), instances[0].numpy(), output="float")
    assert np.abs(floats[0].numpy() - single_float).max() <= 1e-5


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precisions_stay_close_to_fp32(bundle, scene, precision):
    reference = Runtime(bundle, device="cpu").render(scene.labels, scene.instances)
    image = Runtime(bundle, device="cpu", precision=precision).render(scene.labels, scene.instances)
    assert psnr(image, reference) >= 40


@pytest.mark.cuda
def test_cuda_fp16_matches_cpu_fp32(bundle, scene):
    reference = Runtime(bundle, device="cpu").render(scene.labels, scene.instances)
    runtime = Runtime(bundle, device="cuda")
    assert runtime.precision == "fp16"
    labels = torch.from_numpy(scene.labels).cuda()
    image = runtime.render(labels, torch.from_numpy(scene.instances).cuda())
    assert image.is_cuda and psnr(image.cpu().numpy(), reference) >= 40


def test_public_checkpoint_directory_renders(tiny_model, tmp_path, scene):
    checkpoint.export_public(tiny_model, tmp_path / "public")
    runtime = Runtime(tmp_path / "public", device="cpu")
    assert runtime.render(scene.labels, scene.instances).shape == (64, 128, 3)


def test_onnxruntime_agrees_with_torch(bundle, tiny_model, tmp_path, scene):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = tmp_path / "tiny.onnx"
    x = torch.zeros(1, TINY.input_nc, 64, 128)
    torch.onnx.export(
        tiny_model.generator,
        (x,),
        str(path),
        input_names=["input"],
        output_names=["output"],
        opset_version=17,
        dynamo=False,
    )
    runtime = Runtime(path, backend="onnxruntime", **TINY.to_dict())
    assert runtime.backend == "onnxruntime"
    result = runtime.render(scene.labels, scene.instances, output="float")
    reference = Runtime(bundle, device="cpu").render(scene.labels, scene.instances, output="float")
    assert np.abs(result - reference).max() <= 1e-4


def test_cityscapes_maps_render_downscaled(bundle, tiny_model, cityscapes):
    # The torch backend is the reference's own arithmetic: equal to the last byte.
    runtime = Runtime(bundle, device="cpu", backend="torch")
    for name, labels, instances in cityscapes[:3]:
        image = runtime.render(labels[::8, ::8], instances[::8, ::8])
        assert image.shape == (128, 256, 3), name
        expected = expected_float(tiny_model, labels[::8, ::8], instances[::8, ::8])
        assert np.array_equal(image, ops.to_uint8_image(expected.numpy())), name


def test_exported_artifact_renders_cityscapes_maps_as_its_bundle(bundle, tmp_path, cityscapes):
    pytest.importorskip("onnxruntime")
    from p2phd.export import export

    path = tmp_path / "tiny.onnx"
    export(bundle, to="onnx", size=(64, 128), with_preprocess=True, out=path, progress=None)
    artifact, source = Runtime(path), Runtime(bundle, device="cpu")
    for name, labels, instances in cityscapes[:3]:
        # Every 16th pixel, as NEAREST downscaling takes it: real street layouts at 64 x 128.
        small_labels, small_instances = labels[::16, ::16], instances[::16, ::16]
        image = artifact.render(small_labels, small_instances)
        reference = source.render(small_labels, small_instances)
        difference = np.abs(image.astype(int) - reference)
        # The export's tolerance: float32 graphs that differ in rounding, one level at most.
        assert difference.max() <= 1 and difference.mean() < 0.05, name


def test_two_threads_share_one_runtime(bundle, scene):
    runtime = Runtime(bundle, device="cpu")
    expected = runtime.render(scene.labels, scene.instances)
    results = []

    def render():
        for _ in range(3):
            results.append(runtime.render(scene.labels, scene.instances))

    threads = [threading.Thread(target=render) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(np.array_equal(r, expected) for r in results)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda lab, i: (np.full_like(lab, 35), i), r"labels must lie in \[0, 35\)"),
        (lambda lab, i: (lab.astype(np.int16) - 100, i), r"labels must lie in \[0, 35\)"),
        (lambda lab, i: (lab, i[:, :-1]), "labels are .* but instances are"),
        (lambda lab, i: (lab, None), "needs an instance map"),
        (lambda lab, i: (lab.astype(np.float32), i), "must be an integer map"),
        (lambda lab, i: (np.stack([lab, lab, lab], -1), i), "looks like an RGB image"),
        (lambda lab, i: (lab[:, :0], i[:, :0]), "must lie in"),
    ],
)
def test_bad_input_is_named(bundle, scene, change, message):
    labels, instances = change(scene.labels, scene.instances)
    with pytest.raises(ValueError, match=message):
        Runtime(bundle, device="cpu").render(labels, instances)


def test_bad_sources_and_options_are_refused(bundle, tmp_path, scene):
    with pytest.raises(FileNotFoundError):
        Runtime(tmp_path / "missing")
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"this is not a protobuf")
    with pytest.raises(ValueError, match="not an ONNX model"):
        Runtime(fake, backend="onnxruntime", **TINY.to_dict())
    with pytest.raises(ValueError, match="not an ONNX model"):
        Runtime(fake, backend="openvino", **TINY.to_dict())
    # A file that is no ONNX graph is refused before any backend is chosen.
    with pytest.raises(ValueError, match="not an ONNX model"):
        Runtime(fake, **TINY.to_dict())
    with pytest.raises(ValueError, match="no sidecar"):
        Runtime(fake)
    with pytest.raises(ValueError, match="backend must be"):
        Runtime(bundle, backend="tensorflow")
    with pytest.raises(ValueError, match="p2phd-export"):
        Runtime(bundle, backend="onnxruntime")
    with pytest.raises(ValueError, match="takes no instance features"):
        Runtime(bundle, device="cpu").render(scene.labels, scene.instances, style={7: 0})
    assert MAX_SIDE == 8192


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_engine_is_refused_without_a_gpu(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\0" * 16)
    with pytest.raises(RuntimeError, match="only on an NVIDIA GPU"):
        Runtime(engine, **TINY.to_dict())


def test_reflection_padding():
    assert reflect_indices(3, 7, torch.device("cpu")).tolist() == [0, 1, 2, 1, 0, 1, 2]
    assert reflect_indices(1, 3, torch.device("cpu")).tolist() == [0, 0, 0]
    maps = torch.arange(6).view(1, 2, 3)
    assert pad_to_size(maps, 4, 4).tolist() == [
        [[0, 1, 2, 1], [3, 4, 5, 4], [0, 1, 2, 1], [3, 4, 5, 4]]
    ]
    assert pad_to_size(maps, 2, 3) is maps


FEATURE = GeneratorConfig(
    ngf=4, n_downsample_global=1, n_blocks_global=1, instance_feat=True, feat_num=3
)


@pytest.fixture(scope="module")
def feature_bundle(tmp_path_factory):
    torch.manual_seed(1)
    clusters = {
        26: np.arange(30, dtype=np.float32).reshape(10, 3) / 30,
        24: np.ones((10, 3), np.float32),
    }
    model = checkpoint.LoadedModel(
        config=FEATURE, generator=build_generator(FEATURE), clusters=clusters
    )
    path = tmp_path_factory.mktemp("features") / "feature_model"
    checkpoint.save_bundle(model, path)
    return path


def test_feature_model_styles_and_seeds(feature_bundle, scene):
    runtime = Runtime(feature_bundle, device="cpu")
    cars = [i for i in np.unique(scene.instances).tolist() if i // 1000 == 26]
    assert cars, "the synthetic scene has cars"
    first = runtime.render(scene.labels, scene.instances, seed=5)
    assert np.array_equal(first, runtime.render(scene.labels, scene.instances, seed=5))
    styled = [
        runtime.render(scene.labels, scene.instances, style={cars[0]: k}, seed=5) for k in (0, 9)
    ]
    assert not np.array_equal(styled[0], styled[1])  # the car's mode changes the image
    explicit = np.zeros((3, 64, 128), np.float32)
    assert runtime.render(scene.labels, scene.instances, features=explicit).shape == (64, 128, 3)
    with pytest.raises(ValueError, match=r"cluster 10 is outside \[0, 10\)"):
        runtime.render(scene.labels, scene.instances, style={cars[0]: 10})
    with pytest.raises(ValueError, match="not in the instance map"):
        runtime.render(scene.labels, scene.instances, style={26999: 0})
    with pytest.raises(ValueError, match="NaN or infinity"):
        runtime.render(scene.labels, scene.instances, features=explicit + np.nan)
    with pytest.raises(ValueError, match="has no encoder"):
        runtime.render(scene.labels, scene.instances, features_from=scene.image)


def test_onnx_with_preprocess_from_p2phd_export(bundle, tmp_path, scene):
    pytest.importorskip("onnxruntime")
    from p2phd.export import export

    path = tmp_path / "tiny.onnx"
    export(bundle, to="onnx", size=(64, 128), with_preprocess=True, out=path, progress=None)
    runtime = Runtime(path, backend="onnxruntime")
    assert runtime.backend == "onnxruntime" and runtime.config == TINY
    image = runtime.render(scene.labels, scene.instances)
    reference = Runtime(bundle, backend="torch").render(scene.labels, scene.instances)
    assert np.abs(image.astype(int) - reference).max() <= 1
    # 58 x 122 pads to the export's 64 x 128 (stride 8); 50 x 100 would pad further
    smaller = runtime.render(scene.labels[:58, :122], scene.instances[:58, :122])
    assert smaller.shape == (58, 122, 3)
    with pytest.raises(ValueError, match="--size 56x104"):
        runtime.render(scene.labels[:50, :100], scene.instances[:50, :100])
    with pytest.raises(ValueError, match="exported for 1 x 64 x 128 maps"):
        runtime.render(scene.labels[:, :10].repeat(2, 0), scene.instances[:, :10].repeat(2, 0))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 35\): got 40"):
        runtime.render(np.full_like(scene.labels, 40), scene.instances)
