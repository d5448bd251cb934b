// SPDX-License-Identifier: Apache-2.0
// The binding of one_hot: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/one_hot_cuda.cu) on the caller's stream.
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
#include "kernels/one_hot.h"

namespace py = pybind11;

namespace p2phd {

namespace {

void one_hot(const Array& labels, const Array& out, int64_t num_classes, const Array& status,
             ThreadCount threads, uintptr_t stream) {
  const ImageShape shape = image_shape(labels, "labels");
  require(num_classes > 0 && num_classes <= INT32_MAX,
          "num_classes must be in [1, 2^31 - 1], got " + std::to_string(num_classes));
  require_output(out, {shape.n, num_classes, shape.h, shape.w}, labels);
  require_disjoint(out, labels, "labels");
  require_status(status, labels);
  if (shape.total() == 0) {
    return;
  }
  const int device = labels.device;
  P2PHD_RUN(one_hot_cpu(labels.data(), labels.dtype, shape, num_classes, out.data(), out.dtype,
                        status.data<int64_t>()),
            one_hot_cuda(labels.data(), labels.dtype, shape, num_classes, out.data(), out.dtype,
                         status.data<int64_t>(), device, stream));
}

}  // namespace

void bind_one_hot(py::module_& m) {
  m.def("one_hot", &one_hot, py::call_guard<py::gil_scoped_release>(), py::arg("labels"),
        py::arg("out"), py::arg("num_classes"), py::arg("status"), py::arg("threads"),
        py::arg("stream"));
}

}  // namespace p2phd
