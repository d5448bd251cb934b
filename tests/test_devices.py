# SPDX-License-Identifier: Apache-2.0
"""Where a Runtime's work runs: builds without CUDA refused up front, cuDNN's flag left as it
was, graphs captured on the Runtime's device and stream, renders on several streams ordered."""

import threading

import numpy as np
import pytest
import torch

import p2phd
from p2phd import checkpoint
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime
from p2phd.runtime.devices import (
    DeviceStream,
    cuda_build_error,
    cudnn_autotuning,
    torch_threads,
)
from p2phd.runtime.fused_backend import FusedBackend
from p2phd.runtime.torch_backend import TorchBackend

CONFIG = GeneratorConfig(netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1)
CUDA_BUILD = p2phd.build_info()["cuda"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    model = checkpoint.LoadedModel(config=CONFIG, generator=build_generator(CONFIG))
    path = tmp_path_factory.mktemp("devices") / "model"
    checkpoint.save_bundle(model, path)
    return path


def _scene(seed: int, height: int = 64, width: int = 128) -> tuple[np.ndarray, np.ndarray]:
    scene = synthetic_scene(seed, height, width)
    return scene.labels, scene.instances


def test_cuda_build_error_names_the_fix():
    cuda = torch.device("cuda:1")
    message = cuda_build_error(cuda, {"cuda": False, "cuda_architectures": ""})
    assert "cuda:1" in message and "P2PHD_CUDA=ON" in message and "device='cpu'" in message
    assert cuda_build_error(cuda, {"cuda": True, "cuda_architectures": "90"}) is None
    assert cuda_build_error(torch.device("cpu"), {"cuda": False, "cuda_architectures": ""}) is None


@pytest.mark.skipif(CUDA_BUILD, reason="needs a build without CUDA kernels")
@pytest.mark.parametrize("backend", [TorchBackend, FusedBackend])
def test_backend_on_cuda_without_cuda_build_refused_at_construction(backend):
    # Before, the torch backend failed later, inside ops.generator_input at the first render.
    generator = build_generator(CONFIG)
    args = (CONFIG,) if backend is FusedBackend else ()
    with pytest.raises(RuntimeError, match="no CUDA kernels.*P2PHD_CUDA=ON"):
        backend(generator, *args, torch.device("cuda"), "fp32")


def test_cudnn_autotuning_is_scoped():
    torch.backends.cudnn.benchmark = False
    with pytest.raises(KeyError), cudnn_autotuning():
        assert torch.backends.cudnn.benchmark
        raise KeyError("the flag is restored on errors too")
    assert torch.backends.cudnn.benchmark is False


def test_torch_threads_is_the_calling_threads_and_scoped():
    torch.set_num_threads(2)
    asked, seen_elsewhere = threading.Event(), []

    def count_when_asked() -> None:
        torch.get_num_threads()  # the thread's count is set at its first use
        asked.wait()
        seen_elsewhere.append(torch.get_num_threads())

    other = threading.Thread(target=count_when_asked)
    other.start()
    with pytest.raises(KeyError), torch_threads(1):
        assert torch.get_num_threads() == 1
        asked.set()
        other.join()
        raise KeyError("the count is restored on errors too")
    assert torch.get_num_threads() == 2
    assert seen_elsewhere == [2]  # a thread already running keeps its count
    with torch_threads(None):
        assert torch.get_num_threads() == 2


def test_a_thread_started_inside_torch_threads_gets_the_process_count():
    # A server's thread pool may start a thread while a render prepares its maps on one
    # torch thread: the new thread must get the process's count, not the render's, for good.
    torch.set_num_threads(2)
    seen = []

    def first_torch_use() -> None:
        (torch.ones(1 << 16) * 2).sum()  # torch sets a thread's count at its first use
        seen.append(torch.get_num_threads())

    with torch_threads(1):
        started = threading.Thread(target=first_torch_use)
        started.start()
        started.join()
    assert seen == [2]


@pytest.mark.parametrize("bad_labels", [False, True])
def test_openvino_render_leaves_torch_threads_as_they_were(bundle, bad_labels):
    # The openvino backend prepares maps on one torch thread; the caller's count comes back.
    runtime = Runtime(bundle, backend="openvino")
    labels, instances = _scene(0)
    if bad_labels:
        labels = labels.astype(np.int32) + 100
    torch.set_num_threads(2)
    try:
        if bad_labels:
            with pytest.raises(ValueError):
                runtime.render(labels, instances)
        else:
            runtime.render(labels, instances)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(2)


def test_device_stream_on_cpu_calls_through():
    stream = DeviceStream(torch.device("cpu"))
    assert stream.stream is None and stream.run(lambda a, b: a + b, 2, 3) == 5


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("backend", ["torch", "fused"])
@pytest.mark.parametrize("benchmark", [False, True])
def test_cudnn_benchmark_left_as_it_was(bundle, device, backend, benchmark):
    torch.backends.cudnn.benchmark = benchmark
    try:
        runtime = Runtime(bundle, backend=backend, device=device)
        assert torch.backends.cudnn.benchmark is benchmark
        runtime.render(*_scene(1))
        assert torch.backends.cudnn.benchmark is benchmark
    finally:
        torch.backends.cudnn.benchmark = False


def _on_cuda(labels: np.ndarray, instances: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(labels).cuda(), torch.from_numpy(instances).cuda()]


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_renders_on_two_streams_are_ordered(bundle, backend):
    # Without syncing in between: the second render's writes to the Runtime's buffers and the
    # graph's inputs must wait until the first render, on another stream, has read them.
    runtime = Runtime(bundle, backend=backend, device="cuda")
    scenes = [_on_cuda(*_scene(seed, 256, 512)) for seed in (1, 2)]
    expected = [runtime.render(*scene).clone() for scene in scenes]
    streams = [torch.cuda.Stream(), torch.cuda.Stream()]
    for _ in range(5):
        results = []
        for stream, scene in zip(streams, scenes, strict=True):
            with torch.cuda.stream(stream):
                results.append(runtime.render(*scene))
        torch.cuda.synchronize()
        for result, reference in zip(results, expected, strict=True):
            assert torch.equal(result, reference)


@pytest.mark.cuda
@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_renders_from_two_threads_on_their_streams(bundle, backend):
    runtime = Runtime(bundle, backend=backend, device="cuda")
    scenes = [_on_cuda(*_scene(seed, 256, 512)) for seed in (3, 4)]
    expected = [runtime.render(*scene).clone() for scene in scenes]
    failures = []

    def render_repeatedly(index: int) -> None:
        stream = torch.cuda.Stream()
        with torch.cuda.stream(stream):
            for _ in range(10):
                result = runtime.render(*scenes[index])
                stream.synchronize()
                if not torch.equal(result, expected[index]):
                    failures.append(index)

    threads = [threading.Thread(target=render_repeatedly, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


@pytest.mark.cuda
def test_result_is_ready_on_the_callers_stream(bundle):
    runtime = Runtime(bundle, backend="fused", device="cuda")
    scene = _on_cuda(*_scene(5))
    expected = runtime.render(*scene).clone()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(50_000_000)  # the caller's stream is busy: the render must wait
        result = runtime.render(*scene)
        copy = result.clone()  # on the caller's stream, after the render
    stream.synchronize()
    assert torch.equal(copy, expected)


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
@pytest.mark.parametrize("backend", ["torch", "fused"])
def test_runtime_on_the_second_gpu(bundle, backend):
    # With cuda:0 current, graphs must still be captured (and replayed) on cuda:1.
    expected = Runtime(bundle, backend="torch", device="cpu").render(*_scene(6))
    with torch.cuda.device(0):
        runtime = Runtime(bundle, backend=backend, device="cuda:1", precision="fp32")
        labels, instances = (torch.from_numpy(a).to("cuda:1") for a in _scene(6))
        for _ in range(2):  # the capture, then a replay
            result = runtime.render(labels, instances)
        assert torch.cuda.current_device() == 0
    assert result.device == torch.device("cuda:1")
    apart = np.abs(result.cpu().numpy().astype(np.int32) - expected.astype(np.int32))
    assert apart.max() <= 2
