// SPDX-License-Identifier: Apache-2.0
// The binding of generator_input: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/generator_input_cuda.cu) on the caller's stream.
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
#include "kernels/generator_input.h"

namespace py = pybind11;

namespace p2phd {

namespace {

void generator_input(const Array& labels, const std::optional<Array>& instances,
                     const std::optional<Array>& features, int64_t label_nc, const Array& out,
                     const Array& status, ThreadCount threads, uintptr_t stream) {
  const ImageShape shape = image_shape(labels, "labels");
  require(label_nc > 0 && label_nc <= INT32_MAX,
          "label_nc must be in [1, 2^31 - 1], got " + std::to_string(label_nc));
  int64_t channels = label_nc;
  if (instances) {
    require_shape(*instances, "instances", labels.shape);
    require_same_device(*instances, labels, "instances");
    require_pointer(*instances, "instances");
    channels += 1;
  }
  int64_t feature_channels = 0;
  if (features) {
    feature_channels = require_features(*features, shape, out, labels);
    channels = checked_add(channels, feature_channels, "the number of channels");
  }
  require_output(out, {shape.n, channels, shape.h, shape.w}, labels);
  require_disjoint(out, labels, "labels", instances, "instances", features, "features");
  require_status(status, labels);
  if (shape.total() == 0) {
    return;
  }
  const void* instance_data = optional_data(instances);
  const DType instance_dtype = instances ? instances->dtype : DType::i32;
  const void* feature_data = optional_data(features);
  const int device = labels.device;
  P2PHD_RUN(generator_input_cpu(labels.data(), labels.dtype, instance_data, instance_dtype,
                                feature_data, feature_channels, shape, label_nc, out.data(),
                                out.dtype, status.data<int64_t>()),
            generator_input_cuda(labels.data(), labels.dtype, instance_data, instance_dtype,
                                 feature_data, feature_channels, shape, label_nc, out.data(),
                                 out.dtype, status.data<int64_t>(), device, stream));
}

}  // namespace

void bind_generator_input(py::module_& m) {
  m.def("generator_input", &generator_input, py::call_guard<py::gil_scoped_release>(),
        py::arg("labels"), py::arg("instances"), py::arg("features"), py::arg("label_nc"),
        py::arg("out"), py::arg("status"), py::arg("threads"), py::arg("stream"));
}

}  // namespace p2phd
