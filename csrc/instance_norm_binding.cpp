// SPDX-License-Identifier: Apache-2.0
// The binding of instance_norm: its argument contract (ranks, shapes, dtypes, devices, sizes), then the
// CPU loop or the CUDA launch (kernels/instance_norm_cuda.cu) on the caller's stream.
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
#include "kernels/instance_norm.h"

namespace py = pybind11;

namespace p2phd {

namespace {

InstanceNormShape norm_shape(const std::vector<int64_t>& x_shape, int64_t pad, int64_t residual_pad,
                             bool relu, bool channels_last, double eps) {
  require(x_shape.size() == 4, "x must be N x C x H x W, got shape " + shape_text(x_shape));
  require(x_shape[2] > 0 && x_shape[3] > 0, "x must have H, W > 0, got " + shape_text(x_shape));
  require(pad >= 0 && pad < x_shape[2] && pad < x_shape[3],
          "reflection padding must be in [0, min(H, W)), got " + std::to_string(pad));
  require(residual_pad >= 0, "residual_pad must be >= 0");
  // The residual is H + 2 residual_pad x W + 2 residual_pad: those sizes must not wrap.
  checked_add(std::max(x_shape[2], x_shape[3]), checked_mul(residual_pad, 2, "residual_pad"),
              "H + 2 residual_pad");
  // Partial sums and statistics take at most 16 bytes per element of x.
  checked_mul(checked_numel(x_shape, "x"), 16, "x's workspace");
  require(eps > 0.0, "eps must be positive");
  return InstanceNormShape{x_shape[0], x_shape[1],    x_shape[2],
                           x_shape[3], pad,           residual_pad,
                           relu,       channels_last, static_cast<float>(eps)};
}

int64_t norm_workspace_bytes(const std::vector<int64_t>& x_shape) {
  return instance_norm_workspace_bytes(norm_shape(x_shape, 0, 0, false, false, 1e-5));
}

void instance_norm(const Array& x, const std::optional<Array>& residual, const Array& out,
                   int64_t pad, int64_t residual_pad, bool relu, bool channels_last, double eps,
                   const Array& workspace, ThreadCount threads, uintptr_t stream) {
  const InstanceNormShape shape = norm_shape(x.shape, pad, residual_pad, relu, channels_last, eps);
  require_pointer(x, "x");
  const int64_t n = x.shape[0];
  const int64_t c = x.shape[1];
  if (residual) {
    require_shape(*residual, "residual",
                  {n, c, shape.h + 2 * residual_pad, shape.w + 2 * residual_pad});
    require(residual->dtype == x.dtype, "residual must have x's dtype");
    require_same_device(*residual, x, "residual");
    require_pointer(*residual, "residual");
  }
  require_output(out, {n, c, shape.output().h, shape.output().w}, x);
  require(out.dtype == x.dtype, "out must have x's dtype");
  require_disjoint(out, x, "x", residual, "residual");
  require_workspace(workspace, x, instance_norm_workspace_bytes(shape));
  if (shape.planes() == 0) {
    return;
  }
  const void* residual_data = optional_data(residual);
  const int device = x.device;
  P2PHD_RUN(
      instance_norm_cpu(x.data(), residual_data, shape, out.data(), x.dtype, workspace.data()),
      instance_norm_cuda(x.data(), residual_data, shape, out.data(), x.dtype, workspace.data(),
                         device, stream));
}

}  // namespace

void bind_instance_norm(py::module_& m) {
  m.def("instance_norm_workspace_bytes", &norm_workspace_bytes, py::arg("x_shape"));
  m.def("instance_norm", &instance_norm, py::call_guard<py::gil_scoped_release>(), py::arg("x"),
        py::arg("residual"), py::arg("out"), py::arg("pad"), py::arg("residual_pad"),
        py::arg("relu"), py::arg("channels_last"), py::arg("eps"), py::arg("workspace"),
        py::arg("threads"), py::arg("stream"));
  // instance_norm's launch arithmetic, computed on the host as the CUDA launcher computes it,
  // so that tests check its grid on any build: (blocks, threads, channels per block), and the
  // (image, first channel, chunk) a block reduces.
  m.def(
      "instance_norm_launch",
      [](const std::vector<int64_t>& x_shape, bool channels_last) {
        const NormLaunch launch =
            instance_norm_launch(norm_shape(x_shape, 0, 0, false, channels_last, 1e-5));
        return py::make_tuple(launch.blocks, launch.threads, launch.channels);
      },
      py::arg("x_shape"), py::arg("channels_last"));
  m.def(
      "instance_norm_block",
      [](const std::vector<int64_t>& x_shape, bool channels_last, int64_t block) {
        const InstanceNormShape shape = norm_shape(x_shape, 0, 0, false, channels_last, 1e-5);
        const NormLaunch launch = instance_norm_launch(shape);
        require(block >= 0 && block < launch.blocks, "block outside the launch");
        const NormBlock coordinates = norm_block(shape, launch, block);
        return py::make_tuple(coordinates.n, coordinates.c, coordinates.chunk);
      },
      py::arg("x_shape"), py::arg("channels_last"), py::arg("block"));
}

}  // namespace p2phd
