// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/to_uint8_image.h"

namespace p2phd {

namespace {

template <Rounding R, typename T>
__global__ void to_uint8_image_kernel(const T* y, ImageShape shape, int64_t channels,
                                      uint8_t* out) {
  const int64_t i = global_thread_index();
  if (i >= shape.total()) {
    return;
  }
  const PixelIndex at = pixel_index(shape, i);
  to_uint8_pixel<R>(y + at.b * channels * shape.pixels() + at.p, shape.pixels(), channels,
                    out + i * channels);
}

}  // namespace

void to_uint8_image_cuda(const void* y, DType dtype, ImageShape shape, int64_t channels,
                         Rounding rounding, uint8_t* out, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* data = static_cast<const T*>(y);
    const auto launch = [&](auto kernel) {
      kernel<<<blocks_for(shape.total()), kThreadsPerBlock, 0, as_stream(stream)>>>(
          data, shape, channels, out);
    };
    if (rounding == Rounding::kNearest) {
      launch(to_uint8_image_kernel<Rounding::kNearest, T>);
    } else {
      launch(to_uint8_image_kernel<Rounding::kTruncated, T>);
    }
  });
  check_cuda(cudaGetLastError(), "to_uint8_image launch");
}

}  // namespace p2phd
