// SPDX-License-Identifier: Apache-2.0
// Types and helpers shared by the CPU (csrc/) and CUDA (kernels/) versions of every op.
// Everything here compiles both as plain C++ and under nvcc, so that the per-pixel code of
// each op is written once and the CPU tests exercise the same logic the GPU runs.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#ifdef __CUDACC__
#define P2PHD_HD __host__ __device__ __forceinline__
#else
#define P2PHD_HD inline
#endif

namespace p2phd {

// Element types that cross the binding. Names match numpy/torch dtype names.
enum class DType : int { u8, i16, u16, i32, i64, f16, bf16, f32, f64 };

DType dtype_from_name(const std::string& name);
const char* dtype_name(DType dtype);

// A batch of N images of H x W pixels; every op's maps are N x H x W, channels N x C x H x W.
struct ImageShape {
  int64_t n;
  int64_t h;
  int64_t w;
  P2PHD_HD int64_t pixels() const { return h * w; }
  P2PHD_HD int64_t total() const { return n * h * w; }
};

// Overflow-checked int64 arithmetic for the host-side argument checks: every size, pad or
// count that reaches a kernel is derived through these, so no check can pass on a wrapped
// value. They throw std::invalid_argument (a ValueError in Python) naming what overflowed.
inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t result;
  if (__builtin_add_overflow(a, b, &result)) {
    throw std::invalid_argument(std::string("p2phd: ") + what + " overflows int64");
  }
  return result;
}

inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t result;
  if (__builtin_mul_overflow(a, b, &result)) {
    throw std::invalid_argument(std::string("p2phd: ") + what + " overflows int64");
  }
  return result;
}

// Where pixel `index` of a batch (b * H * W + p) lies: image b, offset p = y * W + x.
struct PixelIndex {
  int64_t b;
  int64_t p;
  int64_t y;
  int64_t x;
};

P2PHD_HD PixelIndex pixel_index(ImageShape shape, int64_t index) {
  const int64_t b = index / shape.pixels();
  const int64_t p = index - b * shape.pixels();
  const int64_t y = p / shape.w;
  return PixelIndex{b, p, y, p - y * shape.w};
}

// The source index of coordinate i (which may lie up to n - 1 outside [0, n)) in an axis of
// size n padded by reflection, as nn.ReflectionPad2d does.
P2PHD_HD int64_t reflect_index(int64_t i, int64_t n) {
  if (i < 0) {
    return -i;
  }
  return i >= n ? 2 * (n - 1) - i : i;
}

// Where element (n, c, y, x) of an N x C x H x W tensor lies: planar (NCHW, PyTorch's
// contiguous format) or interleaved (NHWC, PyTorch's channels_last).
struct TensorLayout {
  int64_t c;
  int64_t h;
  int64_t w;
  bool channels_last;
  P2PHD_HD int64_t offset(int64_t n, int64_t ch, int64_t y, int64_t x) const {
    return channels_last ? ((n * h + y) * w + x) * c + ch : ((n * c + ch) * h + y) * w + x;
  }
  // The inverse of offset: the coordinates of the element at memory index i.
  P2PHD_HD void coordinates(int64_t i, int64_t* n, int64_t* ch, int64_t* y, int64_t* x) const {
    if (channels_last) {
      *ch = i % c;
      i /= c;
      *x = i % w;
      i /= w;
      *y = i % h;
      *n = i / h;
    } else {
      *x = i % w;
      i /= w;
      *y = i % h;
      i /= h;
      *ch = i % c;
      *n = i / c;
    }
  }
};

// 16-bit floats stored as raw bits: the same conversion code runs on host and device, so
// CPU and CUDA results are bit-identical without depending on cuda_fp16.h on the CPU build.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

P2PHD_HD uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

P2PHD_HD float bits_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// float -> IEEE half, round to nearest even, overflow to inf, NaN kept quiet.
P2PHD_HD uint16_t float_to_half_bits(float f) {
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t magnitude = x & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {
    return static_cast<uint16_t>(sign | (magnitude > 0x7f800000u ? 0x7e00u : 0x7c00u));
  }
  if (magnitude >= 0x477ff000u) {  // >= 65520 rounds to infinity
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (magnitude >= 0x38800000u) {  // normal half: rebias the exponent by 127 - 15
    const uint32_t rebased = magnitude - 0x38000000u;
    uint32_t h = rebased >> 13;
    const uint32_t rest = rebased & 0x1fffu;
    h += (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ? 1u : 0u;
    return static_cast<uint16_t>(sign | h);
  }
  // Subnormal half: the result is round(|f| * 2^24).
  const int exponent = static_cast<int>(magnitude >> 23);
  const int shift = 126 - exponent;
  if (exponent == 0 || shift > 24) {
    return static_cast<uint16_t>(sign);
  }
  const uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
  uint32_t h = mantissa >> shift;
  const uint32_t rest = mantissa & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1);
  h += (rest > halfway || (rest == halfway && (h & 1u))) ? 1u : 0u;
  return static_cast<uint16_t>(sign | h);
}

P2PHD_HD float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float value = static_cast<float>(mantissa) * 5.9604644775390625e-08f;  // 2^-24
    return sign ? -value : value;
  }
  if (exponent == 31) {
    return bits_float(sign | 0x7f800000u | (mantissa << 13));
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// float -> bfloat16, round to nearest even, NaN kept quiet.
P2PHD_HD uint16_t float_to_bfloat16_bits(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((x >> 16) | 0x0040u);
  }
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

P2PHD_HD float bfloat16_bits_to_float(uint16_t b) {
  return bits_float(static_cast<uint32_t>(b) << 16);
}

// Conversions used by every op that reads or writes floating-point tensors.
P2PHD_HD float to_float(float v) { return v; }
P2PHD_HD float to_float(Half v) { return half_bits_to_float(v.bits); }
P2PHD_HD float to_float(BFloat16 v) { return bfloat16_bits_to_float(v.bits); }

template <typename T>
P2PHD_HD T from_float(float v);
template <>
P2PHD_HD float from_float<float>(float v) {
  return v;
}
template <>
P2PHD_HD Half from_float<Half>(float v) {
  return Half{float_to_half_bits(v)};
}
template <>
P2PHD_HD BFloat16 from_float<BFloat16>(float v) {
  return BFloat16{float_to_bfloat16_bits(v)};
}

// Errors found inside a kernel are written to a two-element int64 buffer the caller owns:
// [0] the first error code, [1] the offending value. Kernels never stop early on an error;
// the Python wrapper reads the buffer afterwards and raises.
enum ErrorCode : int64_t {
  kOk = 0,
  kLabelOutOfRange = 1,
  kInstanceIdOutOfRange = 2,
  kDuplicateId = 3,
  kTableIdOutOfRange = 4,
};

// Instance ids are hashed as int32; -1 marks an empty hash slot, so ids must be >= 0.
constexpr int64_t kMaxInstanceId = 2147483647;

P2PHD_HD void report_error(int64_t* status, int64_t code, int64_t value) {
#ifdef __CUDA_ARCH__
  auto* slot = reinterpret_cast<unsigned long long*>(status);
  if (atomicCAS(slot, 0ull, static_cast<unsigned long long>(code)) == 0ull) {
    status[1] = value;
  }
#else
  // CPU loops may run on several threads: the first to claim the code slot writes the value.
  int64_t expected = kOk;
  if (__atomic_compare_exchange_n(status, &expected, code, false, __ATOMIC_RELAXED,
                                  __ATOMIC_RELAXED)) {
    status[1] = value;
  }
#endif
}

}  // namespace p2phd
