// SPDX-License-Identifier: Apache-2.0
#include "csrc/arrays.h"

#include <cstdio>
#include <stdexcept>
#include <utility>

#include "csrc/cpu_parallel.h"

namespace p2phd {

DType dtype_from_name(const std::string& name) {
  static const std::pair<const char*, DType> kNames[] = {
      {"uint8", DType::u8},      {"int16", DType::i16},   {"uint16", DType::u16},
      {"int32", DType::i32},     {"int64", DType::i64},   {"float16", DType::f16},
      {"bfloat16", DType::bf16}, {"float32", DType::f32}, {"float64", DType::f64}};
  for (const auto& [text, dtype] : kNames) {
    if (name == text) {
      return dtype;
    }
  }
  throw std::invalid_argument("p2phd: unsupported dtype " + name);
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::u8: return "uint8";
    case DType::i16: return "int16";
    case DType::u16: return "uint16";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
    case DType::f32: return "float32";
    case DType::f64: return "float64";
  }
  return "unknown";
}

int64_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::u8: return 1;
    case DType::i16:
    case DType::u16:
    case DType::f16:
    case DType::bf16: return 2;
    case DType::i32:
    case DType::f32: return 4;
    case DType::i64:
    case DType::f64: return 8;
  }
  return 1;
}

int64_t Array::numel() const {
  int64_t count = 1;
  for (const int64_t size : shape) {
    count *= size;  // cannot overflow: to_array checked the product
  }
  return count;
}

int64_t checked_numel(const std::vector<int64_t>& shape, const char* what) {
  int64_t count = 1;
  for (const int64_t size : shape) {
    require(size >= 0, std::string("negative size in ") + what + "'s shape " + shape_text(shape));
    count = checked_mul(count, size, what);
  }
  return count;
}

// std::to_string rather than iostreams: no locale machinery on any path of this module.
std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return text + "]";
}

void require(bool condition, const std::string& message) {
  if (!condition) {
    throw std::invalid_argument("p2phd: " + message);
  }
}

Array to_array(const ArrayTuple& tuple) {
  const auto& [pointer, dtype_text, shape, device] = tuple;
  const DType dtype = dtype_from_name(dtype_text);
  int64_t count = 1;
  bool empty = false;
  for (const int64_t size : shape) {
    require(size >= 0, "negative size in shape " + shape_text(shape));
    empty = empty || size == 0;
  }
  // A zero-size array may have other huge dimensions: its numel is 0 whatever they are.
  if (!empty) {
    for (const int64_t size : shape) {
      count = checked_mul(count, size, "the number of elements");
    }
    const int64_t bytes = checked_mul(count, dtype_size(dtype), "the size in bytes");
    require(pointer <= UINTPTR_MAX - static_cast<uintptr_t>(bytes),
            "an array's memory wraps around the address space");
  }
  require(device >= kCpu, "device must be -1 (CPU) or a CUDA index");
  return Array{pointer, dtype, shape, device};
}

void require_shape(const Array& array, const char* name, const std::vector<int64_t>& expected) {
  require(array.shape == expected, std::string(name) + " must have shape " + shape_text(expected) +
                                       ", got " + shape_text(array.shape));
}

void require_pointer(const Array& array, const char* name) {
  require(array.numel() == 0 || array.pointer != 0, std::string(name) + " has a null pointer");
}

void require_same_device(const Array& array, const Array& reference, const char* name) {
  require(array.device == reference.device,
          std::string(name) + " is on another device than the first input");
}

void require_disjoint(const Array& out, const Array& input, const char* input_name) {
  if (out.device != input.device || out.numel() == 0 || input.numel() == 0) {
    return;
  }
  const uintptr_t out_end = out.pointer + static_cast<uintptr_t>(out.bytes());
  const uintptr_t input_end = input.pointer + static_cast<uintptr_t>(input.bytes());
  require(out_end <= input.pointer || input_end <= out.pointer,
          std::string("out shares memory with ") + input_name + ": pass a separate buffer");
}

void require_disjoint(const Array& out, const std::optional<Array>& input, const char* input_name) {
  if (input) {
    require_disjoint(out, *input, input_name);
  }
}

void require_output(const Array& out, const std::vector<int64_t>& expected, const Array& input) {
  require_shape(out, "out", expected);
  require_same_device(out, input, "out");
  require_pointer(out, "out");
}

void require_extra_channels(const Array& channels, const char* name,
                            const std::vector<int64_t>& expected, const Array& out,
                            const Array& labels) {
  require_shape(channels, name, expected);
  require(channels.dtype == out.dtype, std::string(name) + " must have the output's dtype");
  require_same_device(channels, labels, name);
  require_pointer(channels, name);
}

int64_t require_features(const Array& features, const ImageShape& image, const Array& out,
                         const Array& labels) {
  require(features.shape.size() == 4,
          "features must be N x K x H x W, got shape " + shape_text(features.shape));
  const int64_t channels = features.shape[1];
  require_extra_channels(features, "features", {image.n, channels, image.h, image.w}, out, labels);
  return channels;
}

const void* optional_data(const std::optional<Array>& array) {
  return array ? array->data() : nullptr;
}

void require_status(const Array& status, const Array& reference) {
  require(status.dtype == DType::i64 && status.shape == std::vector<int64_t>{2},
          "status must be an int64 array of shape [2]");
  require_same_device(status, reference, "status");
  require(status.pointer != 0, "status has a null pointer");
}

void require_workspace(const Array& workspace, const Array& reference, int64_t bytes) {
  require(
      workspace.dtype == DType::u8 && workspace.shape.size() == 1 && workspace.shape[0] >= bytes,
      "workspace must be a uint8 array of at least " + std::to_string(bytes) + " bytes");
  require_same_device(workspace, reference, "workspace");
  require_pointer(workspace, "workspace");
}

int require_threads(int64_t threads) {
  require(threads >= 1 && threads <= kMaxCpuThreads,
          "threads must be in [1, " + std::to_string(kMaxCpuThreads) + "], got " +
              std::to_string(threads));
  return static_cast<int>(threads);
}

ImageShape image_shape(const Array& maps, const char* name) {
  require(maps.shape.size() == 3,
          std::string(name) + " must be N x H x W, got shape " + shape_text(maps.shape));
  require(maps.shape[1] > 0 && maps.shape[2] > 0,
          std::string(name) + " must have H, W > 0, got shape " + shape_text(maps.shape));
  require_pointer(maps, name);
  return ImageShape{maps.shape[0], maps.shape[1], maps.shape[2]};
}

bool writable_memory(uintptr_t pointer, int64_t bytes) {
  require(bytes >= 0 && pointer <= UINTPTR_MAX - static_cast<uintptr_t>(bytes),
          "invalid memory range");
  if (bytes == 0) {
    return true;
  }
#if defined(__linux__)
  // The mappings are listed in address order; walk them until the range is covered.
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  if (!maps) {
    return true;
  }
  uintptr_t covered = pointer;
  const uintptr_t end = pointer + static_cast<uintptr_t>(bytes);
  bool writable = false;
  char line[8192];  // longer than any path, so a line is never split
  while (std::fgets(line, sizeof line, maps)) {
    unsigned long long first = 0;
    unsigned long long last = 0;
    char permissions[5] = {};
    if (std::sscanf(line, "%llx-%llx %4s", &first, &last, permissions) != 3) {
      continue;
    }
    if (last <= covered) {
      continue;
    }
    if (first > covered || permissions[1] != 'w') {
      break;  // a hole or a read-only mapping inside the range
    }
    covered = static_cast<uintptr_t>(last);
    if (covered >= end) {
      writable = true;
      break;
    }
  }
  std::fclose(maps);
  return writable;
#else
  return true;
#endif
}

void require_conv_weight(const Array& weight, const Array& bias, const Array& reference,
                         int64_t in_channels, int64_t kernel) {
  require(weight.dtype == DType::f32 && weight.shape.size() == 4 &&
              weight.shape[0] == in_channels && weight.shape[1] == kernel &&
              weight.shape[2] == kernel && weight.shape[3] > 0,
          "weight must be float32 [" + std::to_string(in_channels) + ", " + std::to_string(kernel) +
              ", " + std::to_string(kernel) + ", C_out], got " + dtype_name(weight.dtype) + " " +
              shape_text(weight.shape));
  require_shape(bias, "bias", {weight.shape[3]});
  require(bias.dtype == DType::f32, "bias must be float32");
  require_same_device(weight, reference, "weight");
  require_same_device(bias, reference, "bias");
  require_pointer(weight, "weight");
  require_pointer(bias, "bias");
}

}  // namespace p2phd
