// SPDX-License-Identifier: Apache-2.0
// The binding of instance_mean: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/instance_mean_cuda.cu) on the caller's stream.
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
#include "kernels/instance_mean.h"

namespace py = pybind11;

namespace p2phd {

namespace {

// Dense indices and counts are int32: an image has at most 2^31 - 1 pixels. An image's
// workspace is under 256 + pixels * (64 + 8 channels) bytes (hash slots, counts, double sums,
// alignment); the product with n is checked here so that the layout cannot wrap.
void require_mean_sizes(int64_t n, int64_t h, int64_t w, int64_t channels) {
  require(n >= 0 && h >= 0 && w >= 0 && channels >= 0, "sizes must be non-negative");
  const int64_t pixels = checked_mul(h, w, "H * W");
  require(pixels <= INT32_MAX, "an image may have at most 2^31 - 1 pixels for instance_mean");
  const char* what = "the instance_mean workspace";
  const int64_t per_pixel = checked_add(64, checked_mul(channels, 8, what), what);
  checked_mul(n, checked_add(256, checked_mul(pixels, per_pixel, what), what), what);
}

int64_t mean_workspace_bytes(int64_t n, int64_t h, int64_t w, int64_t channels) {
  require_mean_sizes(n, h, w, channels);
  return instance_mean_workspace_bytes(ImageShape{n, h, w}, channels);
}

void instance_mean(const Array& features, const Array& instances, const Array& out,
                   const Array& workspace, const Array& status, ThreadCount threads,
                   uintptr_t stream) {
  const ImageShape shape = image_shape(instances, "instances");
  require(features.shape.size() == 4,
          "features must be N x K x H x W, got shape " + shape_text(features.shape));
  const int64_t channels = features.shape[1];
  require_shape(features, "features", {shape.n, channels, shape.h, shape.w});
  require_same_device(features, instances, "features");
  require_pointer(features, "features");
  require_output(out, features.shape, instances);
  require(out.dtype == features.dtype, "out must have the features' dtype");
  require_disjoint(out, features, "features", instances, "instances");
  require_mean_sizes(shape.n, shape.h, shape.w, channels);
  require_workspace(workspace, instances, instance_mean_workspace_bytes(shape, channels));
  require_status(status, instances);
  if (shape.total() == 0 || channels == 0) {
    return;
  }
  const int device = instances.device;
  P2PHD_RUN(
      instance_mean_cpu(features.data(), features.dtype, instances.data(), instances.dtype, shape,
                        channels, out.data(), workspace.data(), status.data<int64_t>()),
      instance_mean_cuda(features.data(), features.dtype, instances.data(), instances.dtype, shape,
                         channels, out.data(), workspace.data(), status.data<int64_t>(), device,
                         stream));
}

}  // namespace

void bind_instance_mean(py::module_& m) {
  m.def("instance_mean_workspace_bytes", &mean_workspace_bytes, py::arg("n"), py::arg("h"),
        py::arg("w"), py::arg("channels"));
  m.def("instance_mean", &instance_mean, py::call_guard<py::gil_scoped_release>(),
        py::arg("features"), py::arg("instances"), py::arg("out"), py::arg("workspace"),
        py::arg("status"), py::arg("threads"), py::arg("stream"));
}

}  // namespace p2phd
