# SPDX-License-Identifier: Apache-2.0
"""The openvino backend, the CPU's default: the same images as torch fp32 within float
rounding, on tiny random models and on Cityscapes maps, in every shape and model kind."""

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from p2phd import checkpoint
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import RenderMemoryError, Runtime

ov = pytest.importorskip("openvino")

LOCAL = GeneratorConfig(
    netG="local", ngf=8, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1
)
FEATURES = GeneratorConfig(
    ngf=4, n_downsample_global=1, n_blocks_global=1, instance_feat=True, feat_num=3
)
CAPABILITIES = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
needs_bf16 = pytest.mark.skipif("BF16" not in CAPABILITIES, reason="this CPU has no bf16 units")


def save(tmp_path_factory, config, seed, clusters=None):
    torch.manual_seed(seed)
    model = checkpoint.LoadedModel(config=config, generator=build_generator(config))
    model.clusters = clusters
    path = tmp_path_factory.mktemp("openvino") / "model"
    checkpoint.save_bundle(model, path)
    return path


@pytest.fixture(scope="module")
def local_bundle(tmp_path_factory):
    return save(tmp_path_factory, LOCAL, 0)


@pytest.fixture(scope="module")
def feature_bundle(tmp_path_factory):
    clusters = {
        26: np.arange(30, dtype=np.float32).reshape(10, 3) / 30,
        24: np.ones((10, 3), np.float32),
    }
    return save(tmp_path_factory, FEATURES, 1, clusters)


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(3, 64, 128)


def assert_rounding_close(image: np.ndarray, reference: np.ndarray) -> None:
    """uint8 images that differ by float rounding only."""
    difference = np.abs(image.astype(int) - reference.astype(int))
    assert image.shape == reference.shape and image.dtype == np.uint8
    assert difference.mean() <= 0.1 and difference.max() <= 4, (difference.mean(), difference.max())


def test_default_on_cpu_matches_torch_fp32(local_bundle, scene):
    runtime = Runtime(local_bundle)
    assert (runtime.backend, runtime.device.type, runtime.precision) == ("openvino", "cpu", "fp32")
    torch_fp32 = Runtime(local_bundle, backend="torch")
    assert_rounding_close(
        runtime.render(scene.labels, scene.instances),
        torch_fp32.render(scene.labels, scene.instances),
    )
    floats = runtime.render(scene.labels, scene.instances, output="float")
    reference = torch_fp32.render(scene.labels, scene.instances, output="float")
    # f32 stays f32 (OpenVINO would compute in bf16 on such CPUs unless told not to).
    assert floats.shape == (3, 64, 128) and np.abs(floats - reference).max() <= 1e-4


def test_shapes_batches_and_torch_tensors(local_bundle, scene):
    runtime, torch_fp32 = Runtime(local_bundle), Runtime(local_bundle, backend="torch")
    for height, width in ((37, 53), (64, 128), (16, 24), (37, 53)):
        labels, instances = scene.labels[:height, :width], scene.instances[:height, :width]
        assert_rounding_close(
            runtime.render(labels, instances), torch_fp32.render(labels, instances)
        )
    # A 1 x 1 map pads to a constant one, whose instance norms divide rounding noise by
    # sqrt(eps): any two implementations (float64 too) disagree there, so only its shape.
    assert runtime.render(scene.labels[:1, :1], scene.instances[:1, :1]).shape == (1, 1, 3)
    labels = torch.from_numpy(scene.labels[:37, :53]).repeat(2, 1, 1)
    instances = torch.from_numpy(scene.instances[:37, :53]).repeat(2, 1, 1)
    labels[1] = torch.from_numpy(scene.labels[-37:, -53:])
    images = runtime.render(labels, instances)
    assert isinstance(images, torch.Tensor) and images.shape == (2, 37, 53, 3)
    assert_rounding_close(images.numpy(), torch_fp32.render(labels, instances).numpy())
    # A map renders to the same bytes alone and in a batch.
    for index in range(2):
        alone = runtime.render(labels[index], instances[index])
        assert torch.equal(images[index], alone), index
    floats = runtime.render(labels, instances, output="float")
    assert torch.equal(floats[1], runtime.render(labels[1], instances[1], output="float"))


def test_feature_model_clusters_styles_and_features(feature_bundle, scene):
    runtime, torch_fp32 = Runtime(feature_bundle), Runtime(feature_bundle, backend="torch")
    assert runtime.backend == "openvino"
    cars = [i for i in np.unique(scene.instances).tolist() if i // 1000 == 26]
    for options in ({"seed": 5}, {"style": {cars[0]: 9}}, {"features": np.ones((3, 64, 128))}):
        assert_rounding_close(
            runtime.render(scene.labels, scene.instances, **options),
            torch_fp32.render(scene.labels, scene.instances, **options),
        )
    first = runtime.render(scene.labels, scene.instances, style={cars[0]: 0})
    assert not np.array_equal(
        first, runtime.render(scene.labels, scene.instances, style={cars[0]: 9})
    )
    with pytest.raises(ValueError, match=r"cluster 10 is outside \[0, 10\)"):
        runtime.render(scene.labels, scene.instances, style={cars[0]: 10})


def test_rounding_public_and_memory_limit(local_bundle, scene):
    public = Runtime(local_bundle, rounding="public")
    assert public.backend == "openvino"
    reference = Runtime(local_bundle, backend="torch", rounding="public")
    assert_rounding_close(
        public.render(scene.labels, scene.instances),
        reference.render(scene.labels, scene.instances),
    )
    limited = Runtime(local_bundle, memory_limit=1 << 20)
    with pytest.raises(RenderMemoryError, match="memory_limit"):
        limited.render(scene.labels, scene.instances)


def test_same_bytes_at_every_call_and_in_another_process(local_bundle, scene, tmp_path):
    runtime = Runtime(local_bundle)
    first = runtime.render(scene.labels, scene.instances)
    runtime.render(scene.labels[:37, :53], scene.instances[:37, :53])  # another shape between
    assert np.array_equal(first, runtime.render(scene.labels, scene.instances))
    np.save(tmp_path / "labels.npy", scene.labels)
    np.save(tmp_path / "instances.npy", scene.instances)
    code = (
        "import sys, numpy as np; from p2phd import Runtime; d = sys.argv[1]; "
        "image = Runtime(sys.argv[2]).render(np.load(d + '/labels.npy'), "
        "np.load(d + '/instances.npy')); np.save(d + '/image.npy', image)"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path), str(local_bundle)], check=True)
    assert np.array_equal(first, np.load(tmp_path / "image.npy"))


def test_two_threads_share_one_runtime(local_bundle, scene):
    runtime = Runtime(local_bundle)
    expected = runtime.render(scene.labels, scene.instances)
    results: list[np.ndarray] = []

    def render() -> None:
        for _ in range(3):
            results.append(runtime.render(scene.labels, scene.instances))

    threads = [threading.Thread(target=render) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(np.array_equal(r, expected) for r in results)


def test_the_bytes_do_not_depend_on_the_number_of_threads(local_bundle, scene):
    expected = Runtime(local_bundle).render(scene.labels, scene.instances)
    for threads in (2, 3):
        image = Runtime(local_bundle, threads=threads).render(scene.labels, scene.instances)
        assert np.array_equal(image, expected), threads


def test_threads_and_openvino_properties(local_bundle, scene):
    reference = Runtime(local_bundle, backend="torch").render(scene.labels, scene.instances)
    for options in ({"threads": 1}, {"openvino_config": {"NUM_STREAMS": 2}}):
        image = Runtime(local_bundle, **options).render(scene.labels, scene.instances)
        assert_rounding_close(image, reference)
    for threads in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads must be a positive int"):
            Runtime(local_bundle, threads=threads)
    with pytest.raises(ValueError, match="not a property of OpenVINO's CPU"):
        Runtime(local_bundle, openvino_config={"NO_SUCH_PROPERTY": 1})
    with pytest.raises(ValueError, match="apply to the openvino backend only"):
        Runtime(local_bundle, backend="torch", threads=2)


@needs_bf16
def test_bf16_uses_the_cpus_bf16_units(local_bundle, scene):
    runtime = Runtime(local_bundle, precision="bf16")
    assert (runtime.backend, runtime.precision) == ("openvino", "bf16")
    fp32 = Runtime(local_bundle).render(scene.labels, scene.instances, output="float")
    bf16 = runtime.render(scene.labels, scene.instances, output="float")
    # bf16 keeps 8 bits of mantissa: visibly different from f32, yet close.
    assert 1e-3 < np.abs(bf16 - fp32).max() < 0.25


@pytest.mark.skipif("FP16" in CAPABILITIES, reason="this CPU computes in fp16")
def test_a_precision_without_units_falls_back_to_torch_with_a_warning(local_bundle):
    with pytest.warns(RuntimeWarning, match="renders on the torch backend: this CPU has no fp16"):
        runtime = Runtime(local_bundle, precision="fp16")
    assert runtime.backend == "torch"
    with pytest.raises(RuntimeError, match="no fp16 units"):
        Runtime(local_bundle, backend="openvino", precision="fp16")


def test_openvino_refuses_what_it_cannot_do(local_bundle):
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="renders on the CPU"):
            Runtime(local_bundle, backend="openvino", device="cuda")
    with pytest.raises(ValueError, match="precision must be one of"):
        Runtime(local_bundle, backend="openvino", precision="int4")


def test_cityscapes_maps_match_torch(local_bundle, cityscapes):
    runtime, torch_fp32 = Runtime(local_bundle), Runtime(local_bundle, backend="torch")
    for name, labels, instances in cityscapes[:2]:
        labels, instances = labels[::4, ::4], instances[::4, ::4]
        image = runtime.render(labels, instances)
        assert image.shape == (256, 512, 3), name
        assert_rounding_close(image, torch_fp32.render(labels, instances))


def test_without_openvino_a_checkpoint_renders_on_torch_and_says_why(local_bundle):
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'openvino':\n"
        "            raise ImportError('no openvino here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from p2phd import Runtime\n"
        "print(Runtime(sys.argv[1]).backend)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker, str(local_bundle)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "torch"
    assert "renders on the torch backend: OpenVINO is not installed" in result.stderr
    # The warning points at the line that built the Runtime, not into p2phd.
    assert result.stderr.startswith("<string>:8: RuntimeWarning"), result.stderr


def test_converted_models_are_cached_on_disk_for_the_next_process(
    tmp_path_factory, monkeypatch, scene
):
    bundle = save(tmp_path_factory, LOCAL, 7)  # weights no other test converted
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("P2PHD_CACHE_DIR", str(cache))
    image = Runtime(bundle).render(scene.labels, scene.instances)
    [xml] = (cache / "openvino").glob("*.xml")
    assert xml.with_suffix(".bin").is_file()
    written = sorted((p.name, p.stat().st_mtime_ns) for p in (cache / "openvino").iterdir())
    code = (
        "import sys, numpy as np; from p2phd import Runtime; from p2phd.data.synthetic import "
        "synthetic_scene; s = synthetic_scene(3, 64, 128); "
        "np.save(sys.argv[2], Runtime(sys.argv[1]).render(s.labels, s.instances))"
    )
    out = tmp_path_factory.mktemp("out") / "image.npy"
    subprocess.run([sys.executable, "-c", code, str(bundle), str(out)], check=True)
    assert np.array_equal(np.load(out), image)  # from the cached IR: the same bytes
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (cache / "openvino").iterdir()) == written


def test_no_cache_or_an_unwritable_one_still_renders(tmp_path_factory, monkeypatch, scene):
    bundle = save(tmp_path_factory, LOCAL, 8)
    monkeypatch.setenv("P2PHD_CACHE_DIR", "")
    assert Runtime(bundle).render(scene.labels, scene.instances).shape == (64, 128, 3)
    blocked = tmp_path_factory.mktemp("blocked") / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("P2PHD_CACHE_DIR", str(blocked))
    bundle = save(tmp_path_factory, LOCAL, 9)
    assert Runtime(bundle).render(scene.labels, scene.instances).shape == (64, 128, 3)


@pytest.mark.parametrize("label_nc", [35, 300])
def test_label_maps_go_in_as_bytes_where_every_label_fits_one(tmp_path_factory, label_nc):
    # The converted graph reads uint8 labels where label_nc <= 256 (a conversion fewer on
    # our side, a quarter of the bytes on OpenVINO's); any integer dtype renders the same.
    from p2phd.runtime import openvino_backend

    config = GeneratorConfig(ngf=4, n_downsample_global=1, n_blocks_global=1, label_nc=label_nc)
    path = save(tmp_path_factory, config, 0)
    model = checkpoint.load(path)
    backend = openvino_backend.from_generator("m", model.generator, config, "fp32")
    assert backend.label_dtype == (torch.uint8 if label_nc <= 256 else torch.int32)
    runtime = Runtime(path, backend="openvino")
    scene = synthetic_scene(0, 32, 64)
    labels = scene.labels.astype(np.int64) * (label_nc // 35)
    images = [runtime.render(labels.astype(dtype), scene.instances) for dtype in (np.int64,)]
    if label_nc <= 256:
        images.append(runtime.render(labels.astype(np.uint8), scene.instances))
    images.append(runtime.render(labels.astype(np.int32), scene.instances))
    assert all(np.array_equal(image, images[0]) for image in images)
    torch_image = Runtime(path, backend="torch").render(labels, scene.instances)
    assert_rounding_close(images[0], torch_image)
