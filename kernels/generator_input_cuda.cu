// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/generator_input.h"

namespace p2phd {

namespace {

template <typename Label, typename Id, typename T>
__global__ void generator_input_kernel(const Label* labels, const Id* instances, const T* features,
                                       int64_t feature_channels, ImageShape shape, int64_t label_nc,
                                       T* out, int64_t* status) {
  const int64_t i = global_thread_index();
  if (i >= shape.total()) {
    return;
  }
  const PixelIndex at = pixel_index(shape, i);
  generator_input_pixel(labels, instances, features, feature_channels, shape, label_nc, at.b, at.y,
                        at.x, out, status);
}

// Pixels per thread in the vector kernel: a thread writes each channel of 4 neighbouring
// pixels with one 8-byte (half) or 16-byte (float) store instead of four narrow ones.
constexpr int kVector = 4;

template <typename T>
struct alignas(sizeof(T) * kVector) Vector {
  T values[kVector];
};

// The same output as generator_input_kernel for images whose width is a multiple of kVector
// (so a thread's pixels share a row) and whose arrays are aligned to a Vector.
template <typename Label, typename Id, typename T>
__global__ void generator_input_vector_kernel(const Label* labels, const Id* instances,
                                              const T* features, int64_t feature_channels,
                                              ImageShape shape, int64_t label_nc, T* out,
                                              int64_t* status) {
  const int64_t first = global_thread_index() * kVector;
  if (first >= shape.total()) {
    return;
  }
  const int64_t plane = shape.pixels();
  const PixelIndex at = pixel_index(shape, first);
  const int64_t channels = label_nc + (instances ? 1 : 0) + feature_channels;
  const T one = from_float<T>(1.0f);
  const T zero = from_float<T>(0.0f);
  int64_t classes[kVector];
  for (int j = 0; j < kVector; ++j) {
    classes[j] = one_hot_class(labels[first + j], label_nc, status);
  }
  T* pixel_out = out + at.b * channels * plane + at.p;
  Vector<T> vector;
  for (int64_t c = 0; c < label_nc; ++c) {
    for (int j = 0; j < kVector; ++j) {
      vector.values[j] = classes[j] == c ? one : zero;
    }
    *reinterpret_cast<Vector<T>*>(pixel_out + c * plane) = vector;
  }
  int64_t c = label_nc;
  if (instances) {
    for (int j = 0; j < kVector; ++j) {
      const bool edge =
          instance_edge_at(instances + at.b * plane, shape.h, shape.w, at.y, at.x + j);
      vector.values[j] = edge ? one : zero;
    }
    *reinterpret_cast<Vector<T>*>(pixel_out + c * plane) = vector;
    ++c;
  }
  for (int64_t k = 0; k < feature_channels; ++k, ++c) {
    const T* feature_pixels = features + (at.b * feature_channels + k) * plane + at.p;
    *reinterpret_cast<Vector<T>*>(pixel_out + c * plane) =
        *reinterpret_cast<const Vector<T>*>(feature_pixels);
  }
}

template <typename T>
bool vector_aligned(const void* pointer) {
  return reinterpret_cast<uintptr_t>(pointer) % sizeof(Vector<T>) == 0;
}

template <typename Label, typename Id>
void launch(const void* labels, const void* instances, const void* features,
            int64_t feature_channels, ImageShape shape, int64_t label_nc, void* out,
            DType out_dtype, int64_t* status, cudaStream_t stream) {
  dispatch_float_type(out_dtype, [&](auto out_tag) {
    using T = decltype(out_tag);
    const auto* label_data = static_cast<const Label*>(labels);
    const auto* instance_data = static_cast<const Id*>(instances);
    const auto* feature_data = static_cast<const T*>(features);
    auto* out_data = static_cast<T*>(out);
    const bool vectorizable = shape.w % kVector == 0 && vector_aligned<T>(out) &&
                              (!features || vector_aligned<T>(features));
    if (vectorizable) {
      generator_input_vector_kernel<<<blocks_for(shape.total() / kVector), kThreadsPerBlock, 0,
                                      stream>>>(label_data, instance_data, feature_data,
                                                feature_channels, shape, label_nc, out_data,
                                                status);
    } else {
      generator_input_kernel<<<blocks_for(shape.total()), kThreadsPerBlock, 0, stream>>>(
          label_data, instance_data, feature_data, feature_channels, shape, label_nc, out_data,
          status);
    }
  });
}

}  // namespace

void generator_input_cuda(const void* labels, DType label_dtype, const void* instances,
                          DType instance_dtype, const void* features, int64_t feature_channels,
                          ImageShape shape, int64_t label_nc, void* out, DType out_dtype,
                          int64_t* status, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  dispatch_label_type(label_dtype, [&](auto label_tag) {
    using Label = decltype(label_tag);
    if (!instances) {
      // Any instance type will do: the pointer is null and never read.
      launch<Label, int32_t>(labels, nullptr, features, feature_channels, shape, label_nc, out,
                             out_dtype, status, as_stream(stream));
      return;
    }
    dispatch_instance_type(instance_dtype, [&](auto id_tag) {
      launch<Label, decltype(id_tag)>(labels, instances, features, feature_channels, shape,
                                      label_nc, out, out_dtype, status, as_stream(stream));
    });
  });
  check_cuda(cudaGetLastError(), "generator_input launch");
}

}  // namespace p2phd
