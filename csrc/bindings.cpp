// SPDX-License-Identifier: Apache-2.0
// The pybind11 module p2phd._native. Arrays cross as plain (pointer, dtype, shape, device)
// tuples, never as torch or numpy objects or as a bound class, so the module links no
// framework, registers no type that could meet another extension's pybind11 internals, and
// works with any PyTorch version.
// Every entry point checks ranks, shapes, dtypes and devices before touching memory, then
// runs the CPU loop or launches the CUDA kernels on the caller's stream.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "csrc/arrays.h"
#include "csrc/cpu_parallel.h"
#include "kernels/common.h"
#include "kernels/generator_input.h"
#include "kernels/instance_broadcast.h"
#include "kernels/instance_edges.h"
#include "kernels/instance_mean.h"
#include "kernels/instance_norm.h"
#include "kernels/label_conv.h"
#include "kernels/one_hot.h"
#include "kernels/output_conv.h"
#include "kernels/to_uint8_image.h"

namespace py = pybind11;

namespace p2phd {

namespace {

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

void one_hot(const Array& labels, const Array& out, int64_t num_classes, const Array& status,
             int threads, uintptr_t stream) {
  const ImageShape shape = image_shape(labels, "labels");
  require(num_classes > 0 && num_classes <= INT32_MAX,
          "num_classes must be in [1, 2^31 - 1], got " + std::to_string(num_classes));
  require_shape(out, "out", {shape.n, num_classes, shape.h, shape.w});
  require_same_device(out, labels, "out");
  require_pointer(out, "out");
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

void instance_edges(const Array& instances, const Array& out, int threads, uintptr_t stream) {
  const ImageShape shape = image_shape(instances, "instances");
  require_shape(out, "out", {shape.n, 1, shape.h, shape.w});
  require_same_device(out, instances, "out");
  require_pointer(out, "out");
  require_disjoint(out, instances, "instances");
  if (shape.total() == 0) {
    return;
  }
  const int device = instances.device;
  P2PHD_RUN(instance_edges_cpu(instances.data(), instances.dtype, shape, out.data(), out.dtype),
            instance_edges_cuda(instances.data(), instances.dtype, shape, out.data(), out.dtype,
                                device, stream));
}

void generator_input(const Array& labels, const std::optional<Array>& instances,
                     const std::optional<Array>& features, int64_t label_nc, const Array& out,
                     const Array& status, int threads, uintptr_t stream) {
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
    require(features->shape.size() == 4,
            "features must be N x K x H x W, got shape " + shape_text(features->shape));
    feature_channels = features->shape[1];
    require_shape(*features, "features", {shape.n, feature_channels, shape.h, shape.w});
    require(features->dtype == out.dtype, "features must have the output's dtype");
    require_same_device(*features, labels, "features");
    require_pointer(*features, "features");
    channels = checked_add(channels, feature_channels, "the number of channels");
  }
  require_shape(out, "out", {shape.n, channels, shape.h, shape.w});
  require_same_device(out, labels, "out");
  require_pointer(out, "out");
  require_disjoint(out, labels, "labels");
  require_disjoint(out, instances, "instances");
  require_disjoint(out, features, "features");
  require_status(status, labels);
  if (shape.total() == 0) {
    return;
  }
  const void* instance_data = instances ? instances->data() : nullptr;
  const DType instance_dtype = instances ? instances->dtype : DType::i32;
  const void* feature_data = features ? features->data() : nullptr;
  const int device = labels.device;
  P2PHD_RUN(generator_input_cpu(labels.data(), labels.dtype, instance_data, instance_dtype,
                                feature_data, feature_channels, shape, label_nc, out.data(),
                                out.dtype, status.data<int64_t>()),
            generator_input_cuda(labels.data(), labels.dtype, instance_data, instance_dtype,
                                 feature_data, feature_channels, shape, label_nc, out.data(),
                                 out.dtype, status.data<int64_t>(), device, stream));
}

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
                   const Array& workspace, const Array& status, int threads, uintptr_t stream) {
  const ImageShape shape = image_shape(instances, "instances");
  require(features.shape.size() == 4,
          "features must be N x K x H x W, got shape " + shape_text(features.shape));
  const int64_t channels = features.shape[1];
  require_shape(features, "features", {shape.n, channels, shape.h, shape.w});
  require_same_device(features, instances, "features");
  require_pointer(features, "features");
  require_shape(out, "out", features.shape);
  require(out.dtype == features.dtype, "out must have the features' dtype");
  require_same_device(out, instances, "out");
  require_pointer(out, "out");
  require_disjoint(out, features, "features");
  require_disjoint(out, instances, "instances");
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

int64_t broadcast_workspace_bytes(int64_t ids) {
  require(ids >= 0 && ids <= kMaxInstanceId,
          "the number of ids must be in [0, 2^31 - 1], got " + std::to_string(ids));
  return instance_broadcast_workspace_bytes(ids);
}

void instance_broadcast(const Array& instances, const Array& ids, const Array& table,
                        const Array& out, const Array& workspace, const Array& status,
                        int threads, uintptr_t stream) {
  const ImageShape shape = image_shape(instances, "instances");
  require(ids.shape.size() == 1, "ids must be one-dimensional, got shape " + shape_text(ids.shape));
  const int64_t num_ids = ids.shape[0];
  require(num_ids <= kMaxInstanceId, "too many ids");
  require(table.shape.size() == 2 && table.shape[0] == num_ids,
          "table must be M x K with M = len(ids) = " + std::to_string(num_ids) + ", got shape " +
              shape_text(table.shape));
  const int64_t channels = table.shape[1];
  require_same_device(ids, instances, "ids");
  require_same_device(table, instances, "table");
  require_pointer(ids, "ids");
  require_pointer(table, "table");
  require_shape(out, "out", {shape.n, channels, shape.h, shape.w});
  require(out.dtype == table.dtype, "out must have the table's dtype");
  require_same_device(out, instances, "out");
  require_pointer(out, "out");
  require_disjoint(out, instances, "instances");
  require_disjoint(out, ids, "ids");
  require_disjoint(out, table, "table");
  require_workspace(workspace, instances, instance_broadcast_workspace_bytes(num_ids));
  require_status(status, instances);
  if (shape.total() == 0 || channels == 0) {
    return;
  }
  const int device = instances.device;
  P2PHD_RUN(instance_broadcast_cpu(instances.data(), instances.dtype, shape, ids.data(), ids.dtype,
                                   num_ids, table.data(), table.dtype, channels, out.data(),
                                   workspace.data(), status.data<int64_t>()),
            instance_broadcast_cuda(instances.data(), instances.dtype, shape, ids.data(), ids.dtype,
                                    num_ids, table.data(), table.dtype, channels, out.data(),
                                    workspace.data(), status.data<int64_t>(), device, stream));
}

void to_uint8_image(const Array& y, const Array& out, const std::string& rounding, int threads,
                    uintptr_t stream) {
  require(rounding == "nearest" || rounding == "public",
          "rounding must be 'nearest' or 'public', got '" + rounding + "'");
  const Rounding mode = rounding == "nearest" ? Rounding::kNearest : Rounding::kTruncated;
  require(y.shape.size() == 4, "y must be N x C x H x W, got shape " + shape_text(y.shape));
  const ImageShape shape{y.shape[0], y.shape[2], y.shape[3]};
  const int64_t channels = y.shape[1];
  require(shape.h > 0 && shape.w > 0 && channels > 0,
          "y must have C, H, W > 0, got shape " + shape_text(y.shape));
  require_pointer(y, "y");
  require_shape(out, "out", {shape.n, shape.h, shape.w, channels});
  require(out.dtype == DType::u8, "out must be uint8");
  require_same_device(out, y, "out");
  require_pointer(out, "out");
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

// A float32 [C_in, k, k, C_out] weight (output channels contiguous) and its [C_out] bias.
void require_conv_weight(const Array& weight, const Array& bias, const Array& reference,
                         int64_t in_channels, int64_t kernel) {
  require(weight.dtype == DType::f32 && weight.shape.size() == 4 &&
              weight.shape[0] == in_channels && weight.shape[1] == kernel &&
              weight.shape[2] == kernel && weight.shape[3] > 0,
          "weight must be float32 [" + std::to_string(in_channels) + ", " + std::to_string(kernel) +
              ", " + std::to_string(kernel) + ", C_out], got " + dtype_name(weight.dtype) + " " +
              shape_text(weight.shape));
  require_shape(bias, "bias", {weight.shape[3]});
  require(bias.dtype == DType::f32, "bias must be float32");
  require_same_device(weight, reference, "weight");
  require_same_device(bias, reference, "bias");
  require_pointer(weight, "weight");
  require_pointer(bias, "bias");
}

void label_conv(const Array& labels, const std::optional<Array>& edges,
                const std::optional<Array>& features, int64_t label_nc, const Array& weight,
                const Array& bias, const Array& out, bool pooled, bool channels_last,
                const Array& status, int threads, uintptr_t stream) {
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
    require_shape(*edges, "edges", {image.n, 1, image.h, image.w});
    require(edges->dtype == out.dtype, "edges must have the output's dtype");
    require_same_device(*edges, labels, "edges");
    require_pointer(*edges, "edges");
    shape.edge_channels = 1;
  }
  if (features) {
    require(features->shape.size() == 4,
            "features must be N x K x H x W, got shape " + shape_text(features->shape));
    shape.feature_channels = features->shape[1];
    require_shape(*features, "features", {image.n, shape.feature_channels, image.h, image.w});
    require(features->dtype == out.dtype, "features must have the output's dtype");
    require_same_device(*features, labels, "features");
    require_pointer(*features, "features");
  }
  checked_add(checked_add(label_nc, shape.edge_channels, "C_in"), shape.feature_channels, "C_in");
  require_conv_weight(weight, bias, labels, shape.in_channels(), kernel);
  require_shape(out, "out", {image.n, shape.out_channels, image.h, image.w});
  require_same_device(out, labels, "out");
  require_pointer(out, "out");
  require_disjoint(out, labels, "labels");
  require_disjoint(out, edges, "edges");
  require_disjoint(out, features, "features");
  require_disjoint(out, weight, "weight");
  require_disjoint(out, bias, "bias");
  require_status(status, labels);
  if (image.total() == 0) {
    return;
  }
  const void* edge_data = edges ? edges->data() : nullptr;
  const void* feature_data = features ? features->data() : nullptr;
  const int device = labels.device;
  P2PHD_RUN(
      label_conv_cpu(labels.data(), labels.dtype, edge_data, feature_data, weight.data<float>(),
                     bias.data<float>(), shape, out.data(), out.dtype, status.data<int64_t>()),
      label_conv_cuda(labels.data(), labels.dtype, edge_data, feature_data, weight.data<float>(),
                      bias.data<float>(), shape, out.data(), out.dtype, status.data<int64_t>(),
                      device, stream));
}

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
                   const Array& workspace, int threads, uintptr_t stream) {
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
  require_shape(out, "out", {n, c, shape.output().h, shape.output().w});
  require(out.dtype == x.dtype, "out must have x's dtype");
  require_same_device(out, x, "out");
  require_pointer(out, "out");
  require_disjoint(out, x, "x");
  require_disjoint(out, residual, "residual");
  require_workspace(workspace, x, instance_norm_workspace_bytes(shape));
  if (shape.planes() == 0) {
    return;
  }
  const void* residual_data = residual ? residual->data() : nullptr;
  const int device = x.device;
  P2PHD_RUN(
      instance_norm_cpu(x.data(), residual_data, shape, out.data(), x.dtype, workspace.data()),
      instance_norm_cuda(x.data(), residual_data, shape, out.data(), x.dtype, workspace.data(),
                         device, stream));
}

void output_conv(const Array& x, const Array& weight, const Array& bias, const Array& out,
                 bool channels_last, int threads, uintptr_t stream) {
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
  require_shape(out, "out", {shape.image.n, shape.image.h, shape.image.w, shape.out_channels});
  require(out.dtype == DType::u8, "out must be uint8");
  require_same_device(out, x, "out");
  require_pointer(out, "out");
  require_disjoint(out, x, "x");
  require_disjoint(out, weight, "weight");
  require_disjoint(out, bias, "bias");
  if (shape.image.total() == 0) {
    return;
  }
  const int device = x.device;
  P2PHD_RUN(output_conv_cpu(x.data(), x.dtype, weight.data<float>(), bias.data<float>(), shape,
                            out.data<uint8_t>()),
            output_conv_cuda(x.data(), x.dtype, weight.data<float>(), bias.data<float>(), shape,
                             out.data<uint8_t>(), device, stream));
}

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

// instance_norm's launch arithmetic, computed on the host as the CUDA launcher computes it,
// so that tests check its grid on any build: (blocks, threads, channels per block), and the
// (image, first channel, chunk) a block reduces.
void bind_instance_norm_launch(py::module_& m) {
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

// Every kernel runs without the GIL: by the time the lambda body runs, its arguments are plain
// C++ values, and the kernels touch no Python object.
PYBIND11_MODULE(_native, m) {
  using namespace p2phd;
  m.doc() = "p2phd native kernels (CPU always, CUDA when built with nvcc)";
  register_fork_handler();

  m.def("build_info", &build_info,
        "Whether CUDA kernels and OpenMP CPU loops were compiled in, and for which GPUs");
  bind_instance_norm_launch(m);
  m.def(
      "writable_memory",
      [](uintptr_t pointer, int64_t bytes) {
        py::gil_scoped_release release;
        return writable_memory(pointer, bytes);
      },
      py::arg("pointer"), py::arg("bytes"),
      "Whether this process may write every byte of the range (its pages are mapped writable)");
  m.def(
      "one_hot",
      [](const ArrayTuple& labels, const ArrayTuple& out, int64_t num_classes,
         const ArrayTuple& status, int64_t threads, uintptr_t stream) {
        py::gil_scoped_release release;
        one_hot(to_array(labels), to_array(out), num_classes, to_array(status),
                require_threads(threads), stream);
      },
      py::arg("labels"), py::arg("out"), py::arg("num_classes"), py::arg("status"),
      py::arg("threads"), py::arg("stream"));
  m.def(
      "instance_edges",
      [](const ArrayTuple& instances, const ArrayTuple& out, int64_t threads, uintptr_t stream) {
        py::gil_scoped_release release;
        instance_edges(to_array(instances), to_array(out), require_threads(threads), stream);
      },
      py::arg("instances"), py::arg("out"), py::arg("threads"), py::arg("stream"));
  m.def(
      "generator_input",
      [](const ArrayTuple& labels, const std::optional<ArrayTuple>& instances,
         const std::optional<ArrayTuple>& features, int64_t label_nc, const ArrayTuple& out,
         const ArrayTuple& status, int64_t threads, uintptr_t stream) {
        py::gil_scoped_release release;
        generator_input(to_array(labels), to_optional_array(instances), to_optional_array(features),
                        label_nc, to_array(out), to_array(status), require_threads(threads),
                        stream);
      },
      py::arg("labels"), py::arg("instances"), py::arg("features"), py::arg("label_nc"),
      py::arg("out"), py::arg("status"), py::arg("threads"), py::arg("stream"));
  m.def("instance_mean_workspace_bytes", &mean_workspace_bytes, py::arg("n"), py::arg("h"),
        py::arg("w"), py::arg("channels"));
  m.def(
      "instance_mean",
      [](const ArrayTuple& features, const ArrayTuple& instances, const ArrayTuple& out,
         const ArrayTuple& workspace, const ArrayTuple& status, int64_t threads,
         uintptr_t stream) {
        py::gil_scoped_release release;
        instance_mean(to_array(features), to_array(instances), to_array(out), to_array(workspace),
                      to_array(status), require_threads(threads), stream);
      },
      py::arg("features"), py::arg("instances"), py::arg("out"), py::arg("workspace"),
      py::arg("status"), py::arg("threads"), py::arg("stream"));
  m.def("instance_broadcast_workspace_bytes", &broadcast_workspace_bytes, py::arg("ids"));
  m.def(
      "instance_broadcast",
      [](const ArrayTuple& instances, const ArrayTuple& ids, const ArrayTuple& table,
         const ArrayTuple& out, const ArrayTuple& workspace, const ArrayTuple& status,
         int64_t threads, uintptr_t stream) {
        py::gil_scoped_release release;
        instance_broadcast(to_array(instances), to_array(ids), to_array(table), to_array(out),
                           to_array(workspace), to_array(status), require_threads(threads),
                           stream);
      },
      py::arg("instances"), py::arg("ids"), py::arg("table"), py::arg("out"), py::arg("workspace"),
      py::arg("status"), py::arg("threads"), py::arg("stream"));
  m.def(
      "to_uint8_image",
      [](const ArrayTuple& y, const ArrayTuple& out, const std::string& rounding,
         int64_t threads, uintptr_t stream) {
        py::gil_scoped_release release;
        to_uint8_image(to_array(y), to_array(out), rounding, require_threads(threads), stream);
      },
      py::arg("y"), py::arg("out"), py::arg("rounding"), py::arg("threads"), py::arg("stream"));
  m.def(
      "label_conv",
      [](const ArrayTuple& labels, const std::optional<ArrayTuple>& edges,
         const std::optional<ArrayTuple>& features, int64_t label_nc, const ArrayTuple& weight,
         const ArrayTuple& bias, const ArrayTuple& out, bool pooled, bool channels_last,
         const ArrayTuple& status, int64_t threads, uintptr_t stream) {
        py::gil_scoped_release release;
        label_conv(to_array(labels), to_optional_array(edges), to_optional_array(features),
                   label_nc, to_array(weight), to_array(bias), to_array(out), pooled, channels_last,
                   to_array(status), require_threads(threads), stream);
      },
      py::arg("labels"), py::arg("edges"), py::arg("features"), py::arg("label_nc"),
      py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("pooled"),
      py::arg("channels_last"), py::arg("status"), py::arg("threads"), py::arg("stream"));
  m.def("instance_norm_workspace_bytes", &norm_workspace_bytes, py::arg("x_shape"));
  m.def(
      "instance_norm",
      [](const ArrayTuple& x, const std::optional<ArrayTuple>& residual, const ArrayTuple& out,
         int64_t pad, int64_t residual_pad, bool relu, bool channels_last, double eps,
         const ArrayTuple& workspace, int64_t threads, uintptr_t stream) {
        py::gil_scoped_release release;
        instance_norm(to_array(x), to_optional_array(residual), to_array(out), pad, residual_pad,
                      relu, channels_last, eps, to_array(workspace), require_threads(threads),
                      stream);
      },
      py::arg("x"), py::arg("residual"), py::arg("out"), py::arg("pad"), py::arg("residual_pad"),
      py::arg("relu"), py::arg("channels_last"), py::arg("eps"), py::arg("workspace"),
      py::arg("threads"), py::arg("stream"));
  m.def(
      "output_conv",
      [](const ArrayTuple& x, const ArrayTuple& weight, const ArrayTuple& bias,
         const ArrayTuple& out, bool channels_last, int64_t threads, uintptr_t stream) {
        py::gil_scoped_release release;
        output_conv(to_array(x), to_array(weight), to_array(bias), to_array(out), channels_last,
                    require_threads(threads), stream);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("channels_last"),
      py::arg("threads"), py::arg("stream"));
}
