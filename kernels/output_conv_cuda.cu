// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/output_conv.h"

namespace p2phd {

namespace {

template <typename T>
__global__ void output_conv_kernel(const T* x, const float* weight, const float* bias,
                                   OutputConvShape shape, uint8_t* out) {
  const int64_t i = global_thread_index();
  if (i >= shape.image.total()) {
    return;
  }
  const PixelIndex at = pixel_index(shape.image, i);
  output_conv_pixel(x, weight, bias, shape, at.b, at.y, at.x, out + i * shape.out_channels);
}

}  // namespace

void output_conv_cuda(const void* x, DType dtype, const float* weight, const float* bias,
                      OutputConvShape shape, uint8_t* out, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    output_conv_kernel<<<blocks_for(shape.image.total()), kThreadsPerBlock, 0, as_stream(stream)>>>(
        static_cast<const T*>(x), weight, bias, shape, out);
  });
  check_cuda(cudaGetLastError(), "output_conv launch");
}

}  // namespace p2phd
