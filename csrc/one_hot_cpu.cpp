// SPDX-License-Identifier: Apache-2.0
#include "kernels/generator_input.h"
#include "kernels/one_hot.h"

namespace p2phd {

// The one-hot channels are the first of the generator's input: its loop, with neither the edge
// channel nor features.
void one_hot_cpu(const void* labels, DType label_dtype, ImageShape shape, int64_t num_classes,
                 void* out, DType out_dtype, int64_t* status) {
  generator_input_cpu(labels, label_dtype, nullptr, DType::i32, nullptr, 0, shape, num_classes,
                      out, out_dtype, status);
}

}  // namespace p2phd
