// SPDX-License-Identifier: Apache-2.0
// The binding of instance_edges: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/instance_edges_cuda.cu) on the caller's stream.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "csrc/arrays.h"
#include "csrc/bindings.h"
#include "csrc/cpu_parallel.h"
#include "kernels/instance_edges.h"

namespace py = pybind11;

namespace p2phd {

namespace {

void instance_edges(const Array& instances, const Array& out, ThreadCount threads,
                    uintptr_t stream) {
  const ImageShape shape = image_shape(instances, "instances");
  require_output(out, {shape.n, 1, shape.h, shape.w}, instances);
  require_disjoint(out, instances, "instances");
  if (shape.total() == 0) {
    return;
  }
  const int device = instances.device;
  P2PHD_RUN(instance_edges_cpu(instances.data(), instances.dtype, shape, out.data(), out.dtype),
            instance_edges_cuda(instances.data(), instances.dtype, shape, out.data(), out.dtype,
                                device, stream));
}

}  // namespace

void bind_instance_edges(py::module_& m) {
  m.def("instance_edges", &instance_edges, py::call_guard<py::gil_scoped_release>(),
        py::arg("instances"), py::arg("out"), py::arg("threads"), py::arg("stream"));
}

}  // namespace p2phd
