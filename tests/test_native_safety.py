# SPDX-License-Identifier: Apache-2.0
"""The native ops refuse what they cannot use safely, before a byte is written: read-only or
aliased outputs, sizes that overflow int64, foreign byte orders. The reproducers that crashed
the interpreter run in a subprocess, so a regression fails the test instead of killing pytest."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import p2phd
from p2phd import ops


def run_isolated(code: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter that imports this checkout's p2phd."""
    package_root = str(Path(p2phd.__file__).resolve().parents[1])
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def assert_refused(code: str, message: str) -> None:
    """`code` must end by printing the ValueError it caught: no crash, no success."""
    result = run_isolated(code)
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    assert "refused:" in result.stdout and message in result.stdout, result.stdout + result.stderr


def test_read_only_memmap_out_is_refused(tmp_path):
    # Issue 19 item 1: this wrote through a PROT_READ mapping (SIGSEGV).
    path = tmp_path / "out.f32"
    path.write_bytes(bytes(35 * 4 * 5 * 4))
    assert_refused(
        f"""
        import numpy as np
        from p2phd import ops
        out = np.memmap({str(path)!r}, np.float32, "r", shape=(35, 4, 5))
        try:
            ops.one_hot(np.zeros((4, 5), np.int32), 35, out=out)
        except ValueError as error:
            print("refused:", error)
        """,
        "read-only",
    )
    assert path.read_bytes() == bytes(35 * 4 * 5 * 4)


def test_tensor_over_read_only_mapping_is_refused(tmp_path):
    # A torch tensor cannot say it is read-only: the op asks the OS how the pages are mapped.
    path = tmp_path / "out.u8"
    path.write_bytes(bytes(2 * 2 * 3))
    assert_refused(
        f"""
        import mmap, warnings
        import numpy as np, torch
        from p2phd import ops
        with open({str(path)!r}, "rb") as file:
            mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns that the array is not writable
            out = torch.from_numpy(np.frombuffer(mapping, np.uint8).reshape(2, 2, 3))
        try:
            ops.to_uint8_image(torch.zeros(3, 2, 2), out=out)
        except ValueError as error:
            print("refused:", error)
        """,
        "read-only memory",
    )


def _weight(out_channels: int, in_channels: int, kernel: int) -> np.ndarray:
    return np.full((out_channels, in_channels, kernel, kernel), 0.1, np.float32)


# (op, expected result shape and dtype): each op called on small valid numpy inputs.
OPS: dict[str, tuple[Callable[..., np.ndarray], tuple[int, ...], type]] = {
    "one_hot": (
        lambda out: ops.one_hot(np.zeros((4, 5), np.int32), 3, out=out),
        (3, 4, 5),
        np.float32,
    ),
    "instance_edges": (
        lambda out: ops.instance_edges(np.zeros((4, 5), np.int32), out=out),
        (1, 4, 5),
        np.float32,
    ),
    "generator_input": (
        lambda out: ops.generator_input(
            np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.int32), 3, out=out
        ),
        (4, 4, 5),
        np.float32,
    ),
    "instance_mean": (
        lambda out: ops.instance_mean(
            np.ones((2, 4, 5), np.float32), np.zeros((4, 5), np.int32), out=out
        ),
        (2, 4, 5),
        np.float32,
    ),
    "instance_broadcast": (
        lambda out: ops.instance_broadcast(
            np.zeros((4, 5), np.int32), np.zeros(1, np.int32), np.ones((1, 2), np.float32), out=out
        ),
        (2, 4, 5),
        np.float32,
    ),
    "to_uint8_image": (
        lambda out: ops.to_uint8_image(np.zeros((3, 4, 5), np.float32), out=out),
        (4, 5, 3),
        np.uint8,
    ),
    "label_conv": (
        lambda out: ops.label_conv(np.zeros((4, 5), np.int32), _weight(2, 3, 3), None, 3, out=out),
        (2, 4, 5),
        np.float32,
    ),
    "instance_norm": (
        lambda out: ops.instance_norm(np.ones((2, 4, 5), np.float32), out=out),
        (2, 4, 5),
        np.float32,
    ),
    "output_conv": (
        lambda out: ops.output_conv(
            np.ones((2, 4, 5), np.float32), _weight(3, 2, 3), None, out=out
        ),
        (2, 3, 3),
        np.uint8,
    ),
}


@pytest.mark.parametrize("name", OPS)
def test_every_op_refuses_a_read_only_out(name):
    op, shape, dtype = OPS[name]
    op(np.empty(shape, dtype))  # the call is valid with a writable out
    out = np.full(shape, 7, dtype)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        op(out)
    assert (out == 7).all()


def test_out_over_immutable_bytes_is_refused():
    # Issue 19 item 1: this modified a bytes object.
    data = bytes(2 * 2 * 3)
    with pytest.raises(ValueError, match="read-only"):
        ops.to_uint8_image(
            np.zeros((3, 2, 2), np.float32), out=np.frombuffer(data, np.uint8).reshape(2, 2, 3)
        )
    assert data == bytes(12)


@pytest.mark.parametrize("name", OPS)
def test_every_op_refuses_a_foreign_byte_order_out(name):
    op, shape, dtype = OPS[name]
    swapped = np.dtype(dtype).newbyteorder("S")
    if swapped == np.dtype(dtype):
        pytest.skip("a one-byte dtype has no byte order")
    out = np.zeros(shape, swapped)
    with pytest.raises(ValueError, match="native byte order"):
        op(out)
    assert (out == 0).all()


def test_out_sharing_memory_with_an_input_is_refused():
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5)).astype(np.float32)
    before = x.copy()
    with pytest.raises(ValueError, match="shares memory with"):
        ops.instance_norm(x, out=x)
    np.testing.assert_array_equal(x, before)
    # A one-class one-hot of int32 labels has exactly the labels' bytes.
    labels = torch.zeros(1, 4, 5, dtype=torch.int32)
    with pytest.raises(ValueError, match="shares memory with"):
        ops.one_hot(labels, 1, out=labels.view(torch.float32)[:, None])
    features = torch.ones(1, 2, 4, 5)
    with pytest.raises(ValueError, match="shares memory with"):
        ops.instance_mean(features, torch.zeros(1, 4, 5, dtype=torch.int32), out=features)


def test_residual_pad_that_wraps_is_refused():
    # Issue 19 item 2: h + 2 * residual_pad wrapped around, then the kernel read out of bounds.
    assert_refused(
        """
        import numpy as np
        from p2phd import ops
        x = np.zeros((1, 1, 1000, 1000), np.float32)
        residual = np.zeros((1, 1, 200, 200), np.float32)
        try:
            ops.instance_norm(x, residual=residual, residual_pad=2**63 - 400)
        except ValueError as error:
            print("refused:", error)
        """,
        "overflows int64",
    )


@pytest.mark.parametrize(
    "call",
    [
        "_native.instance_norm_workspace_bytes([2**62, 2**62, 1, 1])",
        "_native.instance_norm_workspace_bytes([1, 1, 2**40, 2**40])",
        "_native.instance_mean_workspace_bytes(1, 2**31, 2**31, 1)",
        "_native.instance_mean_workspace_bytes(2**40, 2**20, 2**10, 2**20)",
        "_native.instance_broadcast_workspace_bytes(2**62)",
    ],
)
def test_workspace_sizes_that_overflow_are_refused(call):
    assert_refused(
        f"""
        from p2phd import _native
        try:
            print({call})
        except ValueError as error:
            print("refused:", error)
        """,
        "",
    )


def test_foreign_byte_order_inputs_are_read_as_their_values():
    # Issue 19 item 3: '>f4' was read as if little-endian (0.5 -> 128, 1.5 -> 6.9e-41).
    image = ops.to_uint8_image(np.full((3, 2, 2), 0.5, ">f4"))
    assert (image == 191).all()
    mean = ops.instance_mean(np.full((1, 2, 2), 1.5, ">f4"), np.zeros((2, 2), ">i4"))
    np.testing.assert_array_equal(mean, np.full((1, 2, 2), 1.5, np.float32))
    one_hot = ops.one_hot(np.full((2, 3), 2, ">i4"), 3)
    np.testing.assert_array_equal(one_hot, ops.one_hot(np.full((2, 3), 2, np.int32), 3))
    table = np.arange(6, dtype=">f4").reshape(3, 2)
    broadcast = ops.instance_broadcast(np.array([[5, 7]], ">u2"), np.array([7, 5, 9], ">i8"), table)
    np.testing.assert_array_equal(broadcast[:, 0, 0], [2, 3])
    np.testing.assert_array_equal(broadcast[:, 0, 1], [0, 1])
    labels = np.array([[0, 1, 2], [2, 1, 0]], ">i2")
    weight = np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(">f4")
    np.testing.assert_array_equal(
        ops.label_conv(labels, weight, np.ones(2, ">f4"), 3),
        ops.label_conv(
            labels.astype(np.int16), weight.astype(np.float32), np.ones(2, np.float32), 3
        ),
    )


@pytest.mark.parametrize("threads", [0, -1, 2**31, 2**63, 1.5, True])
def test_bad_thread_counts_are_refused(threads):
    with pytest.raises(ValueError, match="threads"):
        ops.one_hot(np.zeros((2, 2), np.int32), 3, threads=threads)


@pytest.mark.parametrize("value", [0, -1, 2**31, 2**63, 2**64, 3.0, "35", True])
def test_bad_class_counts_are_refused_before_allocating(value):
    with pytest.raises(ValueError, match="label_nc"):
        ops.one_hot(np.zeros((2, 2), np.int32), value)


def test_writable_memory_probe():
    from p2phd import _native

    array = np.zeros(4096 * 3, np.uint8)
    assert _native.writable_memory(array.ctypes.data, array.nbytes)
    with mmap.mmap(-1, 4096 * 2, prot=mmap.PROT_READ) as mapping:
        view = np.frombuffer(mapping, np.uint8)
        assert not _native.writable_memory(view.ctypes.data, 1)
        del view
    assert not _native.writable_memory(8, 8)  # the zero page is never mapped


def test_a_strided_view_is_refused_at_the_native_boundary():
    # The ABI carries no strides: a view that is not dense would be read as if it were.
    from p2phd.ops.arrays import kind_of, native_array

    view = torch.arange(24, dtype=torch.float32).reshape(4, 6)[:, ::2]
    with pytest.raises(ValueError, match="contiguous"):
        native_array(view, kind_of(view))
    with pytest.raises(ValueError, match="C-contiguous"):
        native_array(view.numpy(), kind_of(view.numpy()))
    dense = view.contiguous()
    assert native_array(dense, kind_of(dense))[2] == [4, 3]


def test_the_channels_last_flag_must_match_the_memory():
    from p2phd.ops.arrays import kind_of, native_array

    nchw = torch.zeros(2, 3, 4, 5)
    with pytest.raises(ValueError, match="channels_last"):
        native_array(nchw, kind_of(nchw), channels_last=True)
    nhwc = nchw.to(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="contiguous"):
        native_array(nhwc, kind_of(nhwc))
    assert native_array(nhwc, kind_of(nhwc), channels_last=True)[2] == [2, 3, 4, 5]


def test_the_memory_probe_runs_once_per_storage(monkeypatch):
    # Reading /proc/self/maps costs more than many ops: a storage found writable is not
    # probed again while it lives, even once numpy has seen it (which makes it fixed-size).
    from p2phd import _native

    out = torch.empty(3, 4, 5)
    out.numpy()  # a tensor numpy has viewed can no longer be resized
    assert not out.untyped_storage().resizable()
    probes = []
    probe = _native.writable_memory
    monkeypatch.setattr(_native, "writable_memory", lambda *a: probes.append(a) or probe(*a))
    for _ in range(3):
        ops.one_hot(np.zeros((4, 5), np.int32), 3, out=out.numpy())  # numpy: probed each time
        ops.one_hot(torch.zeros(4, 5, dtype=torch.int32), 3, out=out)
        ops.one_hot(torch.zeros(4, 5, dtype=torch.int32), 3, out=out[None][0])  # a view
    assert len(probes) == 3 + 1
