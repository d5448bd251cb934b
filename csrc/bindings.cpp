// SPDX-License-Identifier: Apache-2.0
// The pybind11 module p2phd._native. Arrays cross as plain (pointer, dtype, shape, device)
// tuples, never as torch or numpy objects or as a bound class, so the module links no
// framework, registers no type that could meet another extension's pybind11 internals, and
// works with any PyTorch version.
// Each op's entry points live in csrc/<op>_binding.cpp: every one checks ranks, shapes, dtypes
// and devices before touching memory, then runs the CPU loop or launches the CUDA kernels on
// the caller's stream. Every kernel runs without the GIL: by the time a binding's body runs,
// its arguments are plain C++ values, and the kernels touch no Python object.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "csrc/arrays.h"
#include "csrc/bindings.h"
#include "csrc/cpu_parallel.h"

namespace py = pybind11;

namespace p2phd {

namespace {

py::dict build_info() {
  py::dict info;
  info["cuda"] = static_cast<bool>(P2PHD_WITH_CUDA);
  info["cuda_architectures"] = std::string(P2PHD_CUDA_ARCHITECTURES);
#if defined(_OPENMP)
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  return info;
}

}  // namespace

}  // namespace p2phd

PYBIND11_MODULE(_native, m) {
  using namespace p2phd;
  m.doc() = "p2phd native kernels (CPU always, CUDA when built with nvcc)";
  register_fork_handler();

  m.def("build_info", &build_info,
        "Whether CUDA kernels and OpenMP CPU loops were compiled in, and for which GPUs");
  m.def(
      "writable_memory",
      [](uintptr_t pointer, int64_t bytes) {
        py::gil_scoped_release release;
        return writable_memory(pointer, bytes);
      },
      py::arg("pointer"), py::arg("bytes"),
      "Whether this process may write every byte of the range (its pages are mapped writable)");
  bind_one_hot(m);
  bind_instance_edges(m);
  bind_generator_input(m);
  bind_instance_mean(m);
  bind_instance_broadcast(m);
  bind_to_uint8_image(m);
  bind_label_conv(m);
  bind_instance_norm(m);
  bind_output_conv(m);
}
