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
  const int64_t plane = shape.pixels();
  const int64_t b = i / plane;
  const int64_t p = i - b * plane;
  const int64_t y = p / shape.w;
  const int64_t x = p - y * shape.w;
  generator_input_pixel(labels, instances, features, feature_channels, shape, label_nc, b, y, x,
                        out, status);
}

template <typename Label, typename Id>
void launch(const void* labels, const void* instances, const void* features,
            int64_t feature_channels, ImageShape shape, int64_t label_nc, void* out,
            DType out_dtype, int64_t* status, cudaStream_t stream) {
  dispatch_float_type(out_dtype, [&](auto out_tag) {
    using T = decltype(out_tag);
    generator_input_kernel<<<blocks_for(shape.total()), kThreadsPerBlock, 0, stream>>>(
        static_cast<const Label*>(labels), static_cast<const Id*>(instances),
        static_cast<const T*>(features), feature_channels, shape, label_nc, static_cast<T*>(out),
        status);
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
