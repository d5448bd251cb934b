// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/instance_norm.h"

namespace p2phd {

namespace {

// Sums `value` over the lanes of each channel of a block whose thread t works on channel
// t % channels: the result is valid in the threads of lane 0 (t < channels). With one
// channel per block, a warp reduction first; otherwise the lanes are added in shared memory.
template <typename Acc>
__device__ Acc block_channel_sum(Acc value, int channels, Acc* scratch) {
  if (channels == 1) {
    for (int offset = 16; offset > 0; offset /= 2) {
      value += __shfl_down_sync(0xffffffffu, value, offset);
    }
    if (threadIdx.x % 32 == 0) {
      scratch[threadIdx.x / 32] = value;
    }
    __syncthreads();
    Acc total = Acc(0);
    if (threadIdx.x == 0) {
      for (int i = 0; i < kNormThreads / 32; ++i) {
        total += scratch[i];
      }
    }
    __syncthreads();
    return total;
  }
  scratch[threadIdx.x] = value;
  __syncthreads();
  Acc total = Acc(0);
  if (static_cast<int>(threadIdx.x) < channels) {
    for (int i = threadIdx.x; i < static_cast<int>(blockDim.x); i += channels) {
      total += scratch[i];
    }
  }
  __syncthreads();
  return total;
}

// Block (n, channel group, chunk) of the NormLaunch writes the partial of that chunk of each
// channel of its group: the chunk's mean by one pass, then the deviations from it by a
// second (over data the first pass has just brought into the cache).
template <typename T>
__global__ void norm_partials_kernel(const T* x, InstanceNormShape shape, NormLaunch launch,
                                     NormPartial* partials) {
  using Acc = typename NormAcc<T>::type;
  __shared__ Acc scratch[kNormThreads];
  __shared__ Acc centres[kNormThreads];
  const NormBlock block = norm_block(shape, launch, blockIdx.x);
  const int channel = threadIdx.x % launch.channels;
  const int lane = threadIdx.x / launch.channels;
  const int lanes = blockDim.x / launch.channels;
  const int64_t c = block.c + channel;
  const bool active = c < shape.c;
  const int64_t begin = shape.chunk_begin(block.chunk);
  const int64_t end = shape.chunk_end(block.chunk);
  const Acc count = static_cast<Acc>(end - begin);
  const TensorLayout layout = shape.input();
  const T* values = active ? x + layout.offset(block.n, c, 0, 0) : x;
  const int64_t step = shape.channels_last ? shape.c : 1;

  Acc sum = Acc(0);
  if (active) {
    for (int64_t p = begin + lane; p < end; p += lanes) {
      sum += static_cast<Acc>(to_float(values[p * step]));
    }
  }
  sum = block_channel_sum(sum, launch.channels, scratch);
  if (static_cast<int>(threadIdx.x) < launch.channels) {
    centres[threadIdx.x] = sum / count;
  }
  __syncthreads();
  const Acc centre = centres[channel];

  Acc sum_d = Acc(0);
  Acc sum_d2 = Acc(0);
  if (active) {
    for (int64_t p = begin + lane; p < end; p += lanes) {
      const Acc d = static_cast<Acc>(to_float(values[p * step])) - centre;
      sum_d += d;
      sum_d2 += d * d;
    }
  }
  sum_d = block_channel_sum(sum_d, launch.channels, scratch);
  sum_d2 = block_channel_sum(sum_d2, launch.channels, scratch);
  if (static_cast<int>(threadIdx.x) < launch.channels && active) {
    partials[norm_partial_index(shape, block.n, c, block.chunk)] =
        norm_partial(static_cast<double>(count), centre, sum_d, sum_d2);
  }
}

__global__ void norm_statistics_kernel(InstanceNormShape shape, const NormPartial* partials,
                                       double* statistics) {
  const int64_t plane = global_thread_index();
  if (plane >= shape.planes()) {
    return;
  }
  norm_statistics(partials + plane * shape.chunks(), shape.chunks(), shape.eps,
                  statistics + 2 * plane);
}

template <typename T>
__global__ void norm_apply_kernel(const T* x, const T* residual, InstanceNormShape shape,
                                  const double* statistics, T* out) {
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

}  // namespace

void instance_norm_cuda(const void* x, const void* residual, InstanceNormShape shape, void* out,
                        DType dtype, void* workspace, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  auto* partials = static_cast<NormPartial*>(workspace);
  auto* statistics = reinterpret_cast<double*>(partials + shape.planes() * shape.chunks());
  const TensorLayout out_layout = shape.output();
  const NormLaunch launch = instance_norm_launch(shape);
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* input = static_cast<const T*>(x);
    norm_partials_kernel<<<static_cast<unsigned int>(launch.blocks), launch.threads, 0,
                           as_stream(stream)>>>(input, shape, launch, partials);
    norm_statistics_kernel<<<blocks_for(shape.planes()), kThreadsPerBlock, 0, as_stream(stream)>>>(
        shape, partials, statistics);
    norm_apply_kernel<<<blocks_for(shape.planes() * out_layout.h * out_layout.w), kThreadsPerBlock,
                        0, as_stream(stream)>>>(input, static_cast<const T*>(residual), shape,
                                                statistics, static_cast<T*>(out));
  });
  check_cuda(cudaGetLastError(), "instance_norm launch");
}

}  // namespace p2phd
