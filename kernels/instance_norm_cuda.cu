// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/instance_norm.h"

namespace p2phd {

namespace {

constexpr int kNormThreads = 256;

// NCHW: block (chunk, n * C + c) sums its kNormChunk contiguous elements of one channel.
template <typename T>
__global__ void norm_partials_planar_kernel(const T* x, InstanceNormShape shape,
                                            NormPartial* partials) {
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

// NHWC: block (chunk, n, channel group) has `channels` threads per pixel lane and
// blockDim.x / channels lanes; neighbouring threads read neighbouring channels of a pixel.
template <typename T>
__global__ void norm_partials_interleaved_kernel(const T* x, InstanceNormShape shape, int channels,
                                                 NormPartial* partials) {
  const int64_t chunk = blockIdx.x;
  const int64_t n = blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.z) * channels + threadIdx.x % channels;
  const int lane = threadIdx.x / channels;
  const int lanes = blockDim.x / channels;
  float sum = 0.0f;
  float sum_squares = 0.0f;
  if (c < shape.c) {
    const TensorLayout layout = shape.input();
    const T* channel = x + layout.offset(n, c, 0, 0);
    const float shift = to_float(channel[0]);
    const int64_t begin = chunk * kNormChunk;
    const int64_t end = begin + kNormChunk < shape.pixels() ? begin + kNormChunk : shape.pixels();
    for (int64_t p = begin + lane; p < end; p += lanes) {
      const float centred = to_float(channel[p * shape.c]) - shift;
      sum += centred;
      sum_squares += centred * centred;
    }
  }
  __shared__ float lane_sums[kNormThreads][2];
  lane_sums[threadIdx.x][0] = sum;
  lane_sums[threadIdx.x][1] = sum_squares;
  __syncthreads();
  if (lane == 0 && c < shape.c) {
    NormPartial partial{0.0f, 0.0f};
    for (int i = 0; i < lanes; ++i) {
      partial.sum += lane_sums[i * channels + threadIdx.x][0];
      partial.sum_squares += lane_sums[i * channels + threadIdx.x][1];
    }
    partials[norm_partial_index(shape, n, c, chunk)] = partial;
  }
}

template <typename T>
__global__ void norm_statistics_kernel(const T* x, InstanceNormShape shape,
                                       const NormPartial* partials, float* statistics) {
  const int64_t plane = global_thread_index();
  if (plane >= shape.planes()) {
    return;
  }
  const int64_t n = plane / shape.c;
  const int64_t c = plane - n * shape.c;
  norm_statistics(partials + norm_partial_index(shape, n, c, 0), shape.chunks(),
                  to_float(x[shape.input().offset(n, c, 0, 0)]), shape.pixels(), shape.eps,
                  statistics + 2 * plane);
}

template <typename T>
__global__ void norm_apply_kernel(const T* x, const T* residual, InstanceNormShape shape,
                                  const float* statistics, T* out) {
  const int64_t i = global_thread_index();
  const TensorLayout layout = shape.output();
  if (i >= shape.planes() * layout.h * layout.w) {
    return;
  }
  int64_t n, c, oy, ox;
  layout.coordinates(i, &n, &c, &oy, &ox);
  out[i] =
      instance_norm_value(x, residual, statistics + 2 * (n * shape.c + c), shape, n, c, oy, ox);
}

unsigned int grid_size(int64_t blocks, const char* what) {
  if (blocks > 65535) {
    throw std::invalid_argument(std::string("p2phd: instance_norm: too many ") + what);
  }
  return static_cast<unsigned int>(blocks);
}

}  // namespace

void instance_norm_cuda(const void* x, const void* residual, InstanceNormShape shape, void* out,
                        DType dtype, void* workspace, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  auto* partials = static_cast<NormPartial*>(workspace);
  auto* statistics = reinterpret_cast<float*>(partials + shape.planes() * shape.chunks());
  const TensorLayout out_layout = shape.output();
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* input = static_cast<const T*>(x);
    if (shape.channels_last) {
      // Channels per block: all of them up to 256, with the spare threads as pixel lanes.
      const int channels = shape.c < kNormThreads ? static_cast<int>(shape.c) : kNormThreads;
      const int lanes = kNormThreads / channels;
      const dim3 grid(static_cast<unsigned int>(shape.chunks()), grid_size(shape.n, "images (N)"),
                      grid_size((shape.c + channels - 1) / channels, "channels"));
      norm_partials_interleaved_kernel<<<grid, channels * lanes, 0, as_stream(stream)>>>(
          input, shape, channels, partials);
    } else {
      const dim3 grid(static_cast<unsigned int>(shape.chunks()),
                      grid_size(shape.planes(), "planes (N * C)"));
      norm_partials_planar_kernel<<<grid, kNormThreads, 0, as_stream(stream)>>>(input, shape,
                                                                                partials);
    }
    norm_statistics_kernel<<<blocks_for(shape.planes()), kThreadsPerBlock, 0, as_stream(stream)>>>(
        input, shape, partials, statistics);
    norm_apply_kernel<<<blocks_for(shape.planes() * out_layout.h * out_layout.w), kThreadsPerBlock,
                        0, as_stream(stream)>>>(input, static_cast<const T*>(residual), shape,
                                                statistics, static_cast<T*>(out));
  });
  check_cuda(cudaGetLastError(), "instance_norm launch");
}

}  // namespace p2phd
