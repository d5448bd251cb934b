// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/instance_mean.h"

namespace p2phd {

namespace {

constexpr unsigned int kFullWarp = 0xffffffffu;

template <typename Id>
__global__ void insert_kernel(const Id* instances, InstanceMeanWorkspace ws, ImageShape shape,
                              int64_t channels, int64_t* status) {
  const int64_t i = global_thread_index();
  if (i < shape.total()) {
    instance_mean_insert_pixel<DeviceAtomics>(instances, ws, shape, channels, i, status);
  }
}

__device__ __forceinline__ double warp_sum(double value) {
  for (int offset = 16; offset > 0; offset /= 2) {
    value += __shfl_down_sync(kFullWarp, value, offset);
  }
  return value;
}

// Neighbouring pixels mostly share an instance, so a warp whose 32 pixels all belong to one
// group adds its sums once instead of 32 times; this removes most of the atomic contention.
template <typename Id, typename T>
__global__ void accumulate_kernel(const Id* instances, const T* features, InstanceMeanWorkspace ws,
                                  ImageShape shape, int64_t channels) {
  const int64_t i = global_thread_index();
  const bool active = i < shape.total();
  const int64_t group = active ? instance_mean_group(instances, ws, shape, i) : -1;
  const int64_t plane = shape.pixels();
  const PixelIndex at = pixel_index(shape, i);
  const int64_t first = __shfl_sync(kFullWarp, group, 0);
  const bool uniform = __all_sync(kFullWarp, group == first && group >= 0);
  if (uniform) {
    const bool leader = (threadIdx.x % 32) == 0;
    if (leader) {
      atomicAdd(&ws.counts[group], 32);
    }
    for (int64_t k = 0; k < channels; ++k) {
      const double sum = warp_sum(to_float(features[(at.b * channels + k) * plane + at.p]));
      if (leader) {
        atomicAdd(&ws.sums[group * channels + k], sum);
      }
    }
    return;
  }
  if (group < 0) {
    return;
  }
  atomicAdd(&ws.counts[group], 1);
  for (int64_t k = 0; k < channels; ++k) {
    atomicAdd(&ws.sums[group * channels + k],
              static_cast<double>(to_float(features[(at.b * channels + k) * plane + at.p])));
  }
}

template <typename Id, typename T>
__global__ void write_kernel(const Id* instances, InstanceMeanWorkspace ws, ImageShape shape,
                             int64_t channels, T* out) {
  const int64_t i = global_thread_index();
  if (i < shape.total()) {
    instance_mean_write_pixel(instances, ws, shape, channels, i, out);
  }
}

}  // namespace

void instance_mean_cuda(const void* features, DType feature_dtype, const void* instances,
                        DType instance_dtype, ImageShape shape, int64_t channels, void* out,
                        void* workspace, int64_t* status, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  const cudaStream_t cuda_stream = as_stream(stream);
  const InstanceMeanWorkspace ws = instance_mean_workspace(workspace, shape, channels);
  check_cuda(cudaMemsetAsync(ws.keys, 0xff, shape.n * ws.capacity * sizeof(int32_t), cuda_stream),
             "instance_mean workspace reset");
  check_cuda(cudaMemsetAsync(ws.next, 0, shape.n * sizeof(int32_t), cuda_stream),
             "instance_mean workspace reset");
  const unsigned int blocks = blocks_for(shape.total());
  dispatch_float_type(feature_dtype, [&](auto feature_tag) {
    using T = decltype(feature_tag);
    dispatch_instance_type(instance_dtype, [&](auto id_tag) {
      using Id = decltype(id_tag);
      const auto* ids = static_cast<const Id*>(instances);
      insert_kernel<<<blocks, kThreadsPerBlock, 0, cuda_stream>>>(ids, ws, shape, channels, status);
      accumulate_kernel<<<blocks, kThreadsPerBlock, 0, cuda_stream>>>(
          ids, static_cast<const T*>(features), ws, shape, channels);
      write_kernel<<<blocks, kThreadsPerBlock, 0, cuda_stream>>>(ids, ws, shape, channels,
                                                                 static_cast<T*>(out));
    });
  });
  check_cuda(cudaGetLastError(), "instance_mean launch");
}

}  // namespace p2phd
