// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/label_conv.h"

namespace p2phd {

namespace {

// One thread per (pixel, chunk of output channels); the chunk index varies slowest, so a
// warp's threads read neighbouring labels and write one contiguous run of each channel.
template <typename Label, typename T>
__global__ void label_conv_kernel(const Label* labels, const T* edges, const T* features,
                                  const float* weight, const float* bias, LabelConvShape shape,
                                  T* out, int64_t* status) {
  const int64_t i = global_thread_index();
  const int64_t total = shape.image.total();
  if (i >= total * ((shape.out_channels + kLabelConvChunk - 1) / kLabelConvChunk)) {
    return;
  }
  const int64_t chunk = i / total;
  const PixelIndex at = pixel_index(shape.image, i - chunk * total);
  label_conv_pixel(labels, edges, features, weight, bias, shape, at.b, at.y, at.x,
                   chunk * kLabelConvChunk, out, status);
}

}  // namespace

void label_conv_cuda(const void* labels, DType label_dtype, const void* edges, const void* features,
                     const float* weight, const float* bias, LabelConvShape shape, void* out,
                     DType out_dtype, int64_t* status, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  const int64_t chunks = (shape.out_channels + kLabelConvChunk - 1) / kLabelConvChunk;
  dispatch_label_type(label_dtype, [&](auto label_tag) {
    dispatch_float_type(out_dtype, [&](auto float_tag) {
      using Label = decltype(label_tag);
      using T = decltype(float_tag);
      label_conv_kernel<<<blocks_for(shape.image.total() * chunks), kThreadsPerBlock, 0,
                          as_stream(stream)>>>(
          static_cast<const Label*>(labels), static_cast<const T*>(edges),
          static_cast<const T*>(features), weight, bias, shape, static_cast<T*>(out), status);
    });
  });
  check_cuda(cudaGetLastError(), "label_conv launch");
}

}  // namespace p2phd
