// SPDX-License-Identifier: Apache-2.0
// What the per-op binding files (csrc/<op>_binding.cpp) share: the CPU-or-CUDA dispatch and
// the functions that add each op to the module p2phd._native (csrc/bindings.cpp).
#pragma once

#include <pybind11/pybind11.h>

#include <stdexcept>

#include "csrc/cpu_parallel.h"

namespace p2phd {

// Runs cpu_call with `threads` CPU threads when `device` is the CPU, else cuda_call; in a build
// without CUDA kernels a CUDA device is an error. Expects `device` and `threads` in scope.
#if P2PHD_WITH_CUDA
#define P2PHD_RUN(cpu_call, cuda_call) \
  do {                                 \
    if (device == kCpu) {              \
      const CpuThreads scope(threads); \
      cpu_call;                        \
    } else {                           \
      cuda_call;                       \
    }                                  \
  } while (0)
#else
#define P2PHD_RUN(cpu_call, cuda_call)                                \
  do {                                                                \
    if (device != kCpu) {                                             \
      throw std::runtime_error(                                       \
          "p2phd: this build has no CUDA kernels (rebuild with nvcc " \
          "on PATH or -DP2PHD_CUDA=ON)");                             \
    }                                                                 \
    const CpuThreads scope(threads);                                  \
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
