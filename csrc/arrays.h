// SPDX-License-Identifier: Apache-2.0
// Arrays as the bindings receive them, and the checks every entry point runs on them before
// any kernel touches memory: ranks, shapes, dtypes, devices, null pointers, sizes that fit in
// int64 (checked arithmetic, kernels/common.h), outputs that overlap no input, thread counts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/common.h"

namespace p2phd {

constexpr int kCpu = -1;

// Bytes per element of a dtype.
int64_t dtype_size(DType dtype);

// A contiguous array owned by the caller. device is kCpu or a CUDA device index. to_array
// guarantees that numel() * dtype_size(dtype) fits in int64 and that the byte range does not
// wrap around the address space.
struct Array {
  uintptr_t pointer;
  DType dtype;
  std::vector<int64_t> shape;
  int device;

  int64_t numel() const;
  int64_t bytes() const { return numel() * dtype_size(dtype); }
  template <typename T = void>
  T* data() const {
    return reinterpret_cast<T*>(pointer);
  }
};

// (pointer, dtype name, shape, device) as the Python side passes it.
using ArrayTuple = std::tuple<uintptr_t, std::string, std::vector<int64_t>, int>;

Array to_array(const ArrayTuple& tuple);

// The product of a shape's sizes, refusing negative sizes and int64 overflow.
int64_t checked_numel(const std::vector<int64_t>& shape, const char* what);

std::string shape_text(const std::vector<int64_t>& shape);

// Throws std::invalid_argument ("p2phd: " + message), a ValueError in Python.
void require(bool condition, const std::string& message);
void require_shape(const Array& array, const char* name, const std::vector<int64_t>& expected);
void require_pointer(const Array& array, const char* name);
void require_same_device(const Array& array, const Array& reference, const char* name);
// An output must share no byte with an input: the kernels read inputs after writing outputs.
void require_disjoint(const Array& out, const Array& input, const char* input_name);
void require_disjoint(const Array& out, const std::optional<Array>& input, const char* input_name);
// The same for several inputs: require_disjoint(out, a, "a", b, "b", ...).
template <typename Input, typename... More>
void require_disjoint(const Array& out, const Input& input, const char* input_name,
                      const More&... more) {
  require_disjoint(out, input, input_name);
  require_disjoint(out, more...);
}
// An op's output: of `expected` shape, on the device of `input` (the op's first input), with
// a data pointer.
void require_output(const Array& out, const std::vector<int64_t>& expected, const Array& input);
// An input the kernels read as channels beside the labels (edges, features): of `expected`
// shape, in the output's dtype, on the labels' device, with a data pointer.
void require_extra_channels(const Array& channels, const char* name,
                            const std::vector<int64_t>& expected, const Array& out,
                            const Array& labels);
// N x K x H x W `features` with the N, H, W of `image`, as require_extra_channels; returns K.
int64_t require_features(const Array& features, const ImageShape& image, const Array& out,
                         const Array& labels);
// The data of an optional input, null when it is absent.
const void* optional_data(const std::optional<Array>& array);
void require_status(const Array& status, const Array& reference);
void require_workspace(const Array& workspace, const Array& reference, int64_t bytes);
// threads in [1, kMaxCpuThreads]; returns it as an int.
int require_threads(int64_t threads);
// An op's `threads=` as its entry point receives it: checked by require_threads.
struct ThreadCount {
  int value;
};

ImageShape image_shape(const Array& maps, const char* name);

// A float32 [C_in, k, k, C_out] weight (output channels contiguous) and its [C_out] bias, on
// the device of `reference` (label_conv, output_conv).
void require_conv_weight(const Array& weight, const Array& bias, const Array& reference,
                         int64_t in_channels, int64_t kernel);

// Whether every page of [pointer, pointer + bytes) of this process is mapped writable (from
// /proc/self/maps on Linux; elsewhere true, as nothing can be learnt).
bool writable_memory(uintptr_t pointer, int64_t bytes);

}  // namespace p2phd
