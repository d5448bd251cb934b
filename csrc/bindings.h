// SPDX-License-Identifier: Apache-2.0
// What the per-op binding files (csrc/<op>_binding.cpp) share: how their arguments cross from
// Python, the CPU-or-CUDA dispatch, and the functions that add each op to the module
// p2phd._native (csrc/bindings.cpp).
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "csrc/arrays.h"
#include "csrc/cpu_parallel.h"

namespace p2phd {

// Runs cpu_call with `threads` (a ThreadCount) CPU threads when `device` is the CPU, else
// cuda_call; in a build without CUDA kernels a CUDA device is an error. Expects `device` and
// `threads` in scope.
#if P2PHD_WITH_CUDA
#define P2PHD_RUN(cpu_call, cuda_call)       \
  do {                                       \
    if (device == kCpu) {                    \
      const CpuThreads scope(threads.value); \
      cpu_call;                              \
    } else {                                 \
      cuda_call;                             \
    }                                        \
  } while (0)
#else
#define P2PHD_RUN(cpu_call, cuda_call)                                \
  do {                                                                \
    if (device != kCpu) {                                             \
      throw std::runtime_error(                                       \
          "p2phd: this build has no CUDA kernels (rebuild with nvcc " \
          "on PATH or -DP2PHD_CUDA=ON)");                             \
    }                                                                 \
    const CpuThreads scope(threads.value);                            \
    cpu_call;                                                         \
  } while (0)
#endif

void bind_one_hot(pybind11::module_& m);
void bind_instance_edges(pybind11::module_& m);
void bind_generator_input(pybind11::module_& m);
void bind_instance_mean(pybind11::module_& m);
void bind_instance_broadcast(pybind11::module_& m);
void bind_to_uint8_image(pybind11::module_& m);
void bind_label_conv(pybind11::module_& m);
void bind_instance_norm(pybind11::module_& m);
void bind_output_conv(pybind11::module_& m);

}  // namespace p2phd

// An entry point takes its arrays as Array (or std::optional<Array>, None when absent),
// converted by to_array from the (pointer, dtype, shape, device) tuples that Python passes,
// and its thread count as a ThreadCount, checked by require_threads. Both conversions run
// before the call: a refused argument is a ValueError, and the call's body, run without the
// GIL (py::call_guard<py::gil_scoped_release>), sees plain C++ values only.
namespace pybind11::detail {

template <>
struct type_caster<p2phd::Array> {
  PYBIND11_TYPE_CASTER(p2phd::Array, const_name("tuple[int, str, list[int], int]"));

  bool load(handle source, bool convert) {
    make_caster<p2phd::ArrayTuple> tuple;
    if (!tuple.load(source, convert)) {
      return false;
    }
    value = p2phd::to_array(cast_op<const p2phd::ArrayTuple&>(tuple));
    return true;
  }
};

template <>
struct type_caster<p2phd::ThreadCount> {
  PYBIND11_TYPE_CASTER(p2phd::ThreadCount, const_name("int"));

  bool load(handle source, bool convert) {
    make_caster<int64_t> threads;
    if (!threads.load(source, convert)) {
      return false;
    }
    value = p2phd::ThreadCount{p2phd::require_threads(cast_op<int64_t>(threads))};
    return true;
  }
};

}  // namespace pybind11::detail
