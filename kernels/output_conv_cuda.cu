// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/output_conv.h"

namespace p2phd {

namespace {

// One thread per run of kOutputConvRun pixels of a row.
template <typename T>
__global__ void output_conv_kernel(const T* x, const float* weight, const float* bias,
                                   OutputConvShape shape, int64_t runs_per_row, uint8_t* out) {
  const int64_t i = global_thread_index();
  const int64_t row = i / runs_per_row;
  if (row >= shape.image.n * shape.image.h) {
    return;
  }
  const int64_t b = row / shape.image.h;
  const int64_t y = row - b * shape.image.h;
  const int64_t px = (i - row * runs_per_row) * kOutputConvRun;
  output_conv_run(x, weight, bias, shape, b, y, px,
                  out + (row * shape.image.w + px) * shape.out_channels);
}

}  // namespace

void output_conv_cuda(const void* x, DType dtype, const float* weight, const float* bias,
                      OutputConvShape shape, uint8_t* out, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  const int64_t runs_per_row = (shape.image.w + kOutputConvRun - 1) / kOutputConvRun;
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    output_conv_kernel<<<blocks_for(shape.image.n * shape.image.h * runs_per_row), kThreadsPerBlock,
                         0, as_stream(stream)>>>(static_cast<const T*>(x), weight, bias, shape,
                                                 runs_per_row, out);
  });
  check_cuda(cudaGetLastError(), "output_conv launch");
}

}  // namespace p2phd
