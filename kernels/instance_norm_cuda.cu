// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/instance_norm.h"

namespace p2phd {

namespace {

constexpr int kNormThreads = 256;

// Block (chunk, plane) sums its kNormChunk elements relative to the plane's first element.
template <typename T>
__global__ void norm_partials_kernel(const T* x, InstanceNormShape shape, NormPartial* partials) {
  const int64_t plane = blockIdx.y;
  const int64_t chunk = blockIdx.x;
  const int64_t pixels = shape.pixels();
  const T* values = x + plane * pixels;
  const float shift = to_float(values[0]);
  const int64_t begin = chunk * kNormChunk;
  const int64_t end = begin + kNormChunk < pixels ? begin + kNormChunk : pixels;
  float sum = 0.0f;
  float sum_squares = 0.0f;
  for (int64_t i = begin + threadIdx.x; i < end; i += kNormThreads) {
    const float centred = to_float(values[i]) - shift;
    sum += centred;
    sum_squares += centred * centred;
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    sum += __shfl_down_sync(0xffffffffu, sum, offset);
    sum_squares += __shfl_down_sync(0xffffffffu, sum_squares, offset);
  }
  __shared__ float warp_sums[kNormThreads / 32][2];
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) {
    warp_sums[warp][0] = sum;
    warp_sums[warp][1] = sum_squares;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    NormPartial partial{0.0f, 0.0f};
    for (int i = 0; i < kNormThreads / 32; ++i) {
      partial.sum += warp_sums[i][0];
      partial.sum_squares += warp_sums[i][1];
    }
    partials[plane * shape.chunks() + chunk] = partial;
  }
}

template <typename T>
__global__ void norm_statistics_kernel(const T* x, InstanceNormShape shape,
                                       const NormPartial* partials, float* statistics) {
  const int64_t plane = global_thread_index();
  if (plane >= shape.planes) {
    return;
  }
  norm_statistics(partials + plane * shape.chunks(), shape.chunks(),
                  to_float(x[plane * shape.pixels()]), shape.pixels(), shape.eps,
                  statistics + 2 * plane);
}

template <typename T>
__global__ void norm_apply_kernel(const T* x, const T* residual, InstanceNormShape shape,
                                  const float* statistics, T* out) {
  const int64_t i = global_thread_index();
  const int64_t out_plane = shape.out_h() * shape.out_w();
  if (i >= shape.planes * out_plane) {
    return;
  }
  const int64_t plane = i / out_plane;
  const int64_t p = i - plane * out_plane;
  const int64_t oy = p / shape.out_w();
  out[i] = instance_norm_value(x, residual, statistics + 2 * plane, shape, plane, oy,
                               p - oy * shape.out_w());
}

}  // namespace

void instance_norm_cuda(const void* x, const void* residual, InstanceNormShape shape, void* out,
                        DType dtype, void* workspace, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  if (shape.planes > 65535) {
    throw std::invalid_argument("p2phd: instance_norm takes at most 65535 planes (N * C)");
  }
  auto* partials = static_cast<NormPartial*>(workspace);
  auto* statistics = reinterpret_cast<float*>(partials + shape.planes * shape.chunks());
  const dim3 partial_grid(static_cast<unsigned int>(shape.chunks()),
                          static_cast<unsigned int>(shape.planes));
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* input = static_cast<const T*>(x);
    norm_partials_kernel<<<partial_grid, kNormThreads, 0, as_stream(stream)>>>(input, shape,
                                                                               partials);
    norm_statistics_kernel<<<blocks_for(shape.planes), kThreadsPerBlock, 0, as_stream(stream)>>>(
        input, shape, partials, statistics);
    norm_apply_kernel<<<blocks_for(shape.planes * shape.out_h() * shape.out_w()), kThreadsPerBlock,
                        0, as_stream(stream)>>>(input, static_cast<const T*>(residual), shape,
                                                statistics, static_cast<T*>(out));
  });
  check_cuda(cudaGetLastError(), "instance_norm launch");
}

}  // namespace p2phd
