// SPDX-License-Identifier: Apache-2.0
// The binding of to_uint8_image: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/to_uint8_image_cuda.cu) on the caller's stream.
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
#include "kernels/to_uint8_image.h"

namespace py = pybind11;

namespace p2phd {

namespace {

void to_uint8_image(const Array& y, const Array& out, const std::string& rounding,
                    ThreadCount threads, uintptr_t stream) {
  require(rounding == "nearest" || rounding == "public",
          "rounding must be 'nearest' or 'public', got '" + rounding + "'");
  const Rounding mode = rounding == "nearest" ? Rounding::kNearest : Rounding::kTruncated;
  require(y.shape.size() == 4, "y must be N x C x H x W, got shape " + shape_text(y.shape));
  const ImageShape shape{y.shape[0], y.shape[2], y.shape[3]};
  const int64_t channels = y.shape[1];
  require(shape.h > 0 && shape.w > 0 && channels > 0,
          "y must have C, H, W > 0, got shape " + shape_text(y.shape));
  require_pointer(y, "y");
  require_output(out, {shape.n, shape.h, shape.w, channels}, y);
  require(out.dtype == DType::u8, "out must be uint8");
  require_disjoint(out, y, "y");
  if (shape.total() == 0) {
    return;
  }
  const int device = y.device;
  P2PHD_RUN(
      to_uint8_image_cpu(y.data(), y.dtype, shape, channels, mode, out.data<uint8_t>()),
      to_uint8_image_cuda(y.data(), y.dtype, shape, channels, mode, out.data<uint8_t>(), device,
                          stream));
}

}  // namespace

void bind_to_uint8_image(py::module_& m) {
  m.def("to_uint8_image", &to_uint8_image, py::call_guard<py::gil_scoped_release>(), py::arg("y"),
        py::arg("out"), py::arg("rounding"), py::arg("threads"), py::arg("stream"));
}

}  // namespace p2phd
