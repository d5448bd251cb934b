// SPDX-License-Identifier: Apache-2.0
// Launch helpers shared by the CUDA launchers: error checks, device guard, grid sizes.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace p2phd {

constexpr int kThreadsPerBlock = 256;

inline void check_cuda(cudaError_t error, const char* what) {
  if (error != cudaSuccess) {
    throw std::runtime_error(std::string("p2phd: ") + what + ": " + cudaGetErrorString(error));
  }
}

// Makes `device` current for the launches in scope and restores the caller's device after.
// It touches the current device only when it differs, so that launches inside a CUDA graph
// capture make no other runtime calls.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) {
      check_cuda(cudaSetDevice(device), "cudaSetDevice");
      switched_ = true;
    }
  }
  ~DeviceGuard() {
    if (switched_) {
      cudaSetDevice(previous_);
    }
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

inline cudaStream_t as_stream(uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

// One thread per element.
inline unsigned int blocks_for(int64_t elements) {
  const int64_t blocks = (elements + kThreadsPerBlock - 1) / kThreadsPerBlock;
  if (blocks > 0x7fffffff) {
    throw std::invalid_argument("p2phd: input too large for one launch");
  }
  return static_cast<unsigned int>(blocks);
}

__device__ __forceinline__ int64_t global_thread_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

}  // namespace p2phd
