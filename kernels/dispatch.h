// SPDX-License-Identifier: Apache-2.0
// Host-side dtype dispatch: call a generic lambda with a value of the C++ type that matches
// a runtime DType. Used by both the CPU loops and the CUDA launchers.
#pragma once

#include <stdexcept>
#include <string>

#include "kernels/common.h"

namespace p2phd {

template <typename F>
void dispatch_label_type(DType dtype, F&& f) {
  switch (dtype) {
    case DType::u8: return f(uint8_t{});
    case DType::i16: return f(int16_t{});
    case DType::u16: return f(uint16_t{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    default:
      throw std::invalid_argument(
          std::string("labels must be uint8, int16, uint16, int32 or int64, got ") +
          dtype_name(dtype));
  }
}

template <typename F>
void dispatch_instance_type(DType dtype, F&& f) {
  switch (dtype) {
    case DType::u16: return f(uint16_t{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    default:
      throw std::invalid_argument(std::string("instance ids must be uint16, int32 or int64, got ") +
                                  dtype_name(dtype));
  }
}

template <typename F>
void dispatch_float_type(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f16: return f(Half{});
    case DType::bf16: return f(BFloat16{});
    default:
      throw std::invalid_argument(std::string("expected float32, float16 or bfloat16, got ") +
                                  dtype_name(dtype));
  }
}

}  // namespace p2phd
