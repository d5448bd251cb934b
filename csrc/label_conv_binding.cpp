// SPDX-License-Identifier: Apache-2.0
// The binding of label_conv: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/label_conv_cuda.cu) on the caller's stream.
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
#include "kernels/label_conv.h"

namespace py = pybind11;

namespace p2phd {

namespace {

void label_conv(const Array& labels, const std::optional<Array>& edges,
                const std::optional<Array>& features, int64_t label_nc, const Array& weight,
                const Array& bias, const Array& out, bool pooled, bool channels_last,
                const Array& status, ThreadCount threads, uintptr_t stream) {
  const ImageShape label_image = image_shape(labels, "labels");
  // Pooled (3 x 3, stride 2, padding 1), the output has ceil(H / 2) x ceil(W / 2) pixels.
  const ImageShape image =
      pooled ? ImageShape{label_image.n, (label_image.h + 1) / 2, (label_image.w + 1) / 2}
             : label_image;
  require(label_nc > 0 && label_nc <= INT32_MAX,
          "label_nc must be in [1, 2^31 - 1], got " + std::to_string(label_nc));
  require(weight.shape.size() == 4 && weight.shape[1] % 2 == 1,
          "weight must be [C_in, k, k, C_out] with k odd, got " + shape_text(weight.shape));
  const int64_t kernel = weight.shape[1];
  require(kernel / 2 < image.h && kernel / 2 < image.w,
          "reflection padding " + std::to_string(kernel / 2) + " needs " +
              (pooled ? "pooled " : "") + "maps larger than that, got " + shape_text(labels.shape));
  LabelConvShape shape{image, label_image.h, label_image.w,   pooled,       label_nc, 0,
                       0,     kernel,        weight.shape[3], channels_last};
  if (edges) {
    require_extra_channels(*edges, "edges", {image.n, 1, image.h, image.w}, out, labels);
    shape.edge_channels = 1;
  }
  if (features) {
    shape.feature_channels = require_features(*features, image, out, labels);
  }
  checked_add(checked_add(label_nc, shape.edge_channels, "C_in"), shape.feature_channels, "C_in");
  require_conv_weight(weight, bias, labels, shape.in_channels(), kernel);
  require_output(out, {image.n, shape.out_channels, image.h, image.w}, labels);
  require_disjoint(out, labels, "labels", edges, "edges", features, "features", weight, "weight",
                   bias, "bias");
  require_status(status, labels);
  if (image.total() == 0) {
    return;
  }
  const void* edge_data = optional_data(edges);
  const void* feature_data = optional_data(features);
  const int device = labels.device;
  P2PHD_RUN(
      label_conv_cpu(labels.data(), labels.dtype, edge_data, feature_data, weight.data<float>(),
                     bias.data<float>(), shape, out.data(), out.dtype, status.data<int64_t>()),
      label_conv_cuda(labels.data(), labels.dtype, edge_data, feature_data, weight.data<float>(),
                      bias.data<float>(), shape, out.data(), out.dtype, status.data<int64_t>(),
                      device, stream));
}

}  // namespace

void bind_label_conv(py::module_& m) {
  m.def("label_conv", &label_conv, py::call_guard<py::gil_scoped_release>(), py::arg("labels"),
        py::arg("edges"), py::arg("features"), py::arg("label_nc"), py::arg("weight"),
        py::arg("bias"), py::arg("out"), py::arg("pooled"), py::arg("channels_last"),
        py::arg("status"), py::arg("threads"), py::arg("stream"));
}

}  // namespace p2phd
