// SPDX-License-Identifier: Apache-2.0
// The binding of output_conv: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/output_conv_cuda.cu) on the caller's stream.
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
#include "kernels/output_conv.h"

namespace py = pybind11;

namespace p2phd {

namespace {

void output_conv(const Array& x, const Array& weight, const Array& bias, const Array& out,
                 bool channels_last, ThreadCount threads, uintptr_t stream) {
  require(x.shape.size() == 4, "x must be N x C x H x W, got shape " + shape_text(x.shape));
  require_pointer(x, "x");
  require(weight.shape.size() == 4 && weight.shape[1] % 2 == 1,
          "weight must be [C_in, k, k, C_out] with k odd, got " + shape_text(weight.shape));
  const int64_t kernel = weight.shape[1];
  require(x.shape[2] >= kernel && x.shape[3] >= kernel,
          "x must be at least k x k (it comes padded), got shape " + shape_text(x.shape));
  require_conv_weight(weight, bias, x, x.shape[1], kernel);
  const OutputConvShape shape{
      ImageShape{x.shape[0], x.shape[2] - kernel + 1, x.shape[3] - kernel + 1}, x.shape[1], kernel,
      weight.shape[3], channels_last};
  require(shape.out_channels <= kOutputConvMaxChannels,
          "output_conv writes at most " + std::to_string(kOutputConvMaxChannels) +
              " channels, got " + std::to_string(shape.out_channels));
  require_output(out, {shape.image.n, shape.image.h, shape.image.w, shape.out_channels}, x);
  require(out.dtype == DType::u8, "out must be uint8");
  require_disjoint(out, x, "x", weight, "weight", bias, "bias");
  if (shape.image.total() == 0) {
    return;
  }
  const int device = x.device;
  P2PHD_RUN(output_conv_cpu(x.data(), x.dtype, weight.data<float>(), bias.data<float>(), shape,
                            out.data<uint8_t>()),
            output_conv_cuda(x.data(), x.dtype, weight.data<float>(), bias.data<float>(), shape,
                             out.data<uint8_t>(), device, stream));
}

}  // namespace

void bind_output_conv(py::module_& m) {
  m.def("output_conv", &output_conv, py::call_guard<py::gil_scoped_release>(), py::arg("x"),
        py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("channels_last"),
        py::arg("threads"), py::arg("stream"));
}

}  // namespace p2phd
