# SPDX-License-Identifier: Apache-2.0
"""Fuzzes the Python entry points of the native ops (p2phd.ops) with random dtypes (byte
orders included), shapes, strides, read-only, aliased and foreign `out=` buffers and extreme
integer arguments. Run as a script (tests/test_native_fuzz.py does, in a subprocess, so that
a crash fails the test): `python tests/fuzz_native_ops.py --seed 1 --cases 2000 --seconds 25`.

Each call must return or raise ValueError, TypeError or OverflowError; it must never write to
an input, nor to an `out=` it refused. Anything else is printed and the exit status is 1; a
native crash kills the process, which the caller sees as a signal.
"""

from __future__ import annotations

import argparse
import mmap
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from p2phd import ops

EXPECTED_ERRORS = (ValueError, TypeError, OverflowError)
DTYPES = [
    "u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "?", "c8",
    ">i2", ">u2", ">i4", ">i8", ">f2", ">f4", ">f8",
]  # fmt: skip
INTEGERS = [0, 1, 2, 3, 5, 35, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, -(2**63), 2**64, 2**100]
SIZES = [0, 1, 1, 2, 3, 3, 4, 5, 7, 8, 16]


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.mappings: list[mmap.mmap] = []

    def pick(self, options: list[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def integer(self, typical: list[int]) -> Any:
        """Mostly a typical value; sometimes an extreme one, a float, a string or a bool."""
        if self.chance(0.7):
            return self.pick(typical)
        return self.pick([*INTEGERS, 1.5, float("nan"), "3", True, None])

    def array(self, shape: tuple[int, ...], dtypes: list[str], low: int, high: int) -> np.ndarray:
        """Values in [low, high) of a dtype mostly from `dtypes`, in a random memory layout."""
        dtype = np.dtype(self.pick(dtypes) if self.chance(0.85) else self.pick(DTYPES))
        if self.chance(0.1):
            shape = tuple(self.pick(SIZES) for _ in range(self.pick([1, 2, 3, 4, 5])))
        values = self.rng.integers(low, high, shape) if dtype.kind in "iub" else (
            self.rng.standard_normal(shape) * (high - low) / 4
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # casts of out-of-range values
            array = values.astype(dtype)
        layout = self.pick(["c", "c", "c", "fortran", "strided", "reversed", "broadcast"])
        if layout == "fortran":
            array = np.asfortranarray(array)
        elif layout == "strided" and array.ndim:
            wide = np.zeros((*array.shape[:-1], array.shape[-1] * 2), dtype)
            wide[..., ::2] = array
            array = wide[..., ::2]
        elif layout == "reversed" and array.ndim:
            array = np.ascontiguousarray(array[..., ::-1])[..., ::-1]
        elif layout == "broadcast" and array.ndim and array.size:
            array = np.broadcast_to(array[..., :1], array.shape)
        if self.chance(0.1):
            array = array.copy()
            array.flags.writeable = False
        return array

    def to_kind(self, arrays: list[Any], torch_kind: bool) -> list[Any]:
        if not torch_kind:
            return arrays
        converted = []
        for array in arrays:
            if not isinstance(array, np.ndarray):
                converted.append(array)
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # non-writable arrays
                    tensor = torch.from_numpy(array)
            except (TypeError, ValueError, RuntimeError):
                tensor = array  # negative strides, foreign byte order: stays numpy (mixed kinds)
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and self.chance(0.2):
                tensor = tensor.to(torch.bfloat16)
            converted.append(tensor)
        return converted

    def read_only_mapping(self, like: np.ndarray) -> np.ndarray:
        """An array like `like` over pages mapped read-only: writing it would be SIGSEGV."""
        mapping = mmap.mmap(-1, max(like.nbytes, 1), prot=mmap.PROT_READ)
        self.mappings.append(mapping)
        return np.frombuffer(mapping, like.dtype, like.size).reshape(like.shape)

    def outs(self, result: Any, inputs: list[Any]) -> list[Any]:
        """Up to three out= candidates shaped like a successful call's result: writable or
        read-only, native or foreign byte order, contiguous or not, aliasing an input or not."""
        candidates: list[Any] = []
        if isinstance(result, torch.Tensor):
            if result.dtype != torch.bfloat16 and result.numel():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # torch warns about non-writable arrays
                    candidates.append(torch.from_numpy(self.read_only_mapping(result.numpy())))
            candidates.append(torch.empty_like(result))
            candidates.append(torch.empty(result.shape[::-1], dtype=result.dtype))
            if result.numel():
                candidates.append(torch.empty_like(result).transpose(0, -1))
            candidates += [t for t in inputs if isinstance(t, torch.Tensor)]  # aliasing
            return self.some(candidates)
        assert isinstance(result, np.ndarray)
        read_only = np.zeros_like(result)
        read_only.flags.writeable = False
        candidates += [
            np.empty_like(result),
            read_only,
            result.astype(result.dtype.newbyteorder("S")),
        ]
        if result.size:
            candidates.append(self.read_only_mapping(result))
        if result.ndim:
            candidates.append(
                np.zeros((*result.shape[:-1], result.shape[-1] * 2), result.dtype)[..., ::2]
            )
        candidates.append(np.zeros(result.shape, "f8" if result.dtype != np.float64 else "f4"))
        for array in inputs:
            if (
                isinstance(array, np.ndarray)
                and array.flags.c_contiguous
                and array.nbytes >= result.nbytes
            ):
                flat = array.reshape(-1).view(np.uint8)[: result.nbytes]
                if array.flags.writeable and result.nbytes:
                    candidates.append(flat.view(result.dtype).reshape(result.shape))
        return self.some(candidates)

    def some(self, candidates: list[Any]) -> list[Any]:
        count = 1 + int(self.rng.integers(3))
        return [candidates[i] for i in self.rng.permutation(len(candidates))[:count]]


def _maps(f: Fuzzer, shape: tuple[int, int, int], dtypes: list[str], high: int) -> np.ndarray:
    batched = f.chance(0.7)
    return f.array(shape if batched else shape[1:], dtypes, -1 if f.chance(0.1) else 0, high)


def case(f: Fuzzer) -> tuple[str, Callable[[Any], Any], list[Any]]:
    """(name, call(out) -> result, arrays the call reads) for one random op call."""
    n, h, w = f.pick(SIZES), f.pick(SIZES[1:]), f.pick(SIZES[1:])
    torch_kind = f.chance(0.4)
    label_dtypes = ["u1", "i2", "u2", "i4", "i8"]
    id_dtypes = ["u2", "i4", "i8"]
    float_dtypes = ["f4", "f2"]
    threads = f.integer([None, None, 1, 2, 3])
    dtype = f.pick(["float32", "float16", "bfloat16", torch.float16, np.float32, "int32", "x"])
    name = f.pick([
        "one_hot", "instance_edges", "generator_input", "instance_mean", "instance_broadcast",
        "to_uint8_image", "label_conv", "instance_norm", "output_conv",
    ])  # fmt: skip
    if name == "one_hot":
        classes = f.integer([1, 3, 35])
        maps = _maps(f, (n, h, w), label_dtypes, 40)
        if isinstance(classes, int) and classes > 64:
            maps = maps[:0]  # no pixels: a valid huge class count must not allocate gigabytes
        inputs = f.to_kind([maps], torch_kind)

        def call(out: Any) -> Any:
            return ops.one_hot(inputs[0], classes, dtype, out=out, threads=threads)

    elif name == "instance_edges":
        inputs = f.to_kind([_maps(f, (n, h, w), id_dtypes, 4)], torch_kind)

        def call(out: Any) -> Any:
            return ops.instance_edges(inputs[0], dtype, out=out, threads=threads)

    elif name == "generator_input":
        label_nc = f.integer([1, 3, 35])
        n = 0 if isinstance(label_nc, int) and label_nc > 64 else n
        inputs = f.to_kind(
            [
                _maps(f, (n, h, w), label_dtypes, 40)[: None if n else 0],
                _maps(f, (n, h, w), id_dtypes, 4) if f.chance(0.6) else None,
                f.array((n, f.pick([0, 1, 3]), h, w), float_dtypes, -2, 2)
                if f.chance(0.5)
                else None,
            ],
            torch_kind,
        )

        def call(out: Any) -> Any:
            labels, instances, features = inputs
            return ops.generator_input(
                labels,
                instances,
                label_nc,
                features=features,
                dtype=dtype,
                out=out,
                threads=threads,
            )

    elif name == "instance_mean":
        k = f.pick([0, 1, 3])
        inputs = f.to_kind(
            [f.array((n, k, h, w), float_dtypes, -2, 2), _maps(f, (n, h, w), id_dtypes, 5)],
            torch_kind,
        )

        def call(out: Any) -> Any:
            return ops.instance_mean(inputs[0], inputs[1], out=out, threads=threads)

    elif name == "instance_broadcast":
        m, k = f.pick([0, 1, 3, 5]), f.pick([0, 1, 3])
        inputs = f.to_kind(
            [
                _maps(f, (n, h, w), id_dtypes, 6),
                f.array((m,), id_dtypes, -1 if f.chance(0.1) else 0, 6),
                f.array((m, k), float_dtypes, -2, 2),
            ],
            torch_kind,
        )

        def call(out: Any) -> Any:
            return ops.instance_broadcast(*inputs, out=out, threads=threads)

    elif name == "to_uint8_image":
        shape = (n, f.pick([1, 3, 4]), h, w) if f.chance(0.7) else (f.pick([1, 3]), h, w)
        inputs = f.to_kind([f.array(shape, float_dtypes, -2, 2)], torch_kind)

        def call(out: Any) -> Any:
            return ops.to_uint8_image(inputs[0], out=out, threads=threads)

    elif name == "label_conv":
        label_nc, k, kernel = f.integer([1, 3, 5]), f.pick([0, 2]), f.pick([1, 3, 3, 5, 2])
        use_edges, pool, channels_last = f.chance(0.5), f.chance(0.4), f.chance(0.2)
        classes = label_nc if isinstance(label_nc, int) and 0 < label_nc < 64 else 3
        inputs = f.to_kind(
            [
                _maps(f, (n, h, w), label_dtypes, 6),
                f.array(
                    (f.pick([1, 4, 17]), classes + use_edges + k, kernel, kernel),
                    float_dtypes,
                    -1,
                    1,
                ),
                f.array((1,), float_dtypes, -1, 1) if f.chance(0.3) else None,
                f.array((n, 1, h, w), float_dtypes, 0, 2) if use_edges else None,
                f.array((n, k, h, w), float_dtypes, -2, 2) if k else None,
            ],
            torch_kind,
        )

        def call(out: Any) -> Any:
            labels, weight, bias, edges, features = inputs
            return ops.label_conv(
                labels, weight, bias, label_nc, edges=edges, features=features, pool=pool,
                dtype=dtype, channels_last=channels_last, out=out, threads=threads,
            )  # fmt: skip

    elif name == "instance_norm":
        c = f.pick([1, 2, 3])
        pad, residual_pad = f.integer([0, 0, 1, 2]), f.integer([0, 0, 1, 3])
        rp = residual_pad if isinstance(residual_pad, int) and 0 <= residual_pad < 8 else 0
        if h > 2 and w > 2 and f.chance(0.1):
            residual_pad, rp = 2**63 - 1, -1  # H + 2 residual_pad wraps around to H - 2
        inputs = f.to_kind(
            [
                f.array((n, c, h, w), float_dtypes, -3, 3),
                f.array((n, c, h + 2 * rp, w + 2 * rp), float_dtypes, -1, 1)
                if f.chance(0.4)
                else None,
            ],
            torch_kind,
        )
        if isinstance(inputs[0], torch.Tensor) and inputs[0].ndim == 4 and f.chance(0.3):
            inputs[0] = inputs[0].contiguous(memory_format=torch.channels_last)
        eps = f.pick([1e-5, 1e-5, 0.0, -1.0, float("nan"), float("inf"), 1e300])
        relu = f.chance(0.5)

        def call(out: Any) -> Any:
            return ops.instance_norm(
                inputs[0], relu=relu, residual=inputs[1], pad=pad, residual_pad=residual_pad,
                eps=eps, out=out, threads=threads,
            )  # fmt: skip

    else:
        c, kernel = f.pick([1, 2, 3]), f.pick([1, 3, 5, 2])
        inputs = f.to_kind(
            [
                f.array((n, c, h + 2, w + 2), float_dtypes, -3, 3),
                f.array((f.pick([1, 3, 4, 5]), c, kernel, kernel), float_dtypes, -1, 1),
                f.array((3,), float_dtypes, -1, 1) if f.chance(0.5) else None,
            ],
            torch_kind,
        )

        def call(out: Any) -> Any:
            return ops.output_conv(*inputs, out=out, threads=threads)

    return name, call, inputs


def _snapshot(arrays: list[Any]) -> list[bytes | None]:
    snapshots: list[bytes | None] = []
    for array in arrays:
        if isinstance(array, torch.Tensor):
            snapshots.append(repr(array.detach().reshape(-1).tolist()).encode())
        else:
            snapshots.append(None if array is None else np.ascontiguousarray(array).tobytes())
    return snapshots


def run(seed: int, cases: int, seconds: float) -> int:
    fuzzer = Fuzzer(seed)
    deadline = time.monotonic() + seconds
    failures: list[str] = []
    calls = 0
    succeeded = 0
    for index in range(cases):
        if time.monotonic() > deadline:
            break
        name, call, inputs = case(fuzzer)
        before = _snapshot(inputs)
        result = None
        outs: list[Any] = [None]
        try:
            result = call(None)
            succeeded += 1
        except EXPECTED_ERRORS:
            pass
        except Exception as error:  # noqa: BLE001 - an unexpected error type is a finding
            failures.append(f"case {index} {name}: {type(error).__name__}: {error}")
        if result is not None:
            outs = fuzzer.outs(result, inputs)
        for out in outs:
            calls += 1
            out_before = _snapshot([out])[0]
            try:
                call(out)
                succeeded += 1
                if isinstance(out, np.ndarray) and not (out.flags.writeable and out.dtype.isnative):
                    failures.append(f"case {index} {name}: wrote into a read-only or foreign out=")
            except EXPECTED_ERRORS:
                if out is not None and _snapshot([out])[0] != out_before:
                    failures.append(f"case {index} {name}: a refused out= was written")
            except Exception as error:  # noqa: BLE001
                failures.append(f"case {index} {name} with out=: {type(error).__name__}: {error}")
        if _snapshot(inputs) != before:
            failures.append(f"case {index} {name}: an input was modified")
    print(
        f"{index + 1} cases, {calls} calls with out=, {succeeded} succeeded, {len(failures)} failed"
    )
    for failure in failures[:50]:
        print(failure)
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=25.0)
    arguments = parser.parse_args()
    sys.exit(run(arguments.seed, arguments.cases, arguments.seconds))


if __name__ == "__main__":
    main()
