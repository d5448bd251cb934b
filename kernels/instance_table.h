// SPDX-License-Identifier: Apache-2.0
// An open-addressing hash table from instance id (int32, >= 0) to a small integer, shared by
// instance_mean and instance_broadcast. The probing code is written once; the CPU passes
// plain read-modify-write operations and the GPU passes atomics.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace p2phd {

constexpr int32_t kEmptySlot = -1;

// Smallest power of two >= 2 * entries (at least 16): the load factor stays <= 1/2.
inline int64_t instance_table_capacity(int64_t entries) {
  int64_t capacity = 16;
  while (capacity < 2 * entries) {
    capacity *= 2;
  }
  return capacity;
}

P2PHD_HD uint32_t hash_instance_id(int32_t id) {
  // murmur3's 32-bit finaliser: neighbouring ids land far apart.
  uint32_t h = static_cast<uint32_t>(id);
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

struct HostAtomics {
  static int32_t compare_exchange(int32_t* address, int32_t expected, int32_t desired) {
    const int32_t old = *address;
    if (old == expected) {
      *address = desired;
    }
    return old;
  }
  static int32_t fetch_add(int32_t* address, int32_t value) {
    const int32_t old = *address;
    *address = old + value;
    return old;
  }
};

#ifdef __CUDACC__
struct DeviceAtomics {
  static __device__ int32_t compare_exchange(int32_t* address, int32_t expected, int32_t desired) {
    return atomicCAS(address, expected, desired);
  }
  static __device__ int32_t fetch_add(int32_t* address, int32_t value) {
    return atomicAdd(address, value);
  }
};
#endif

struct InsertResult {
  int64_t slot;
  bool inserted;
};

// Inserts `id` (>= 0) into `keys` (capacity a power of two, empty slots kEmptySlot).
// Reads before the compare-exchange, so ids already present cost no atomic.
template <typename Atomics>
P2PHD_HD InsertResult instance_table_insert(int32_t* keys, int64_t capacity, int32_t id) {
  const int64_t mask = capacity - 1;
  int64_t slot = static_cast<int64_t>(hash_instance_id(id)) & mask;
  while (true) {
    const int32_t key = keys[slot];
    if (key == id) {
      return {slot, false};
    }
    if (key == kEmptySlot) {
      const int32_t previous = Atomics::compare_exchange(&keys[slot], kEmptySlot, id);
      if (previous == kEmptySlot) {
        return {slot, true};
      }
      if (previous == id) {
        return {slot, false};
      }
    }
    slot = (slot + 1) & mask;
  }
}

// The slot holding `id`, or -1 when it is absent.
P2PHD_HD int64_t instance_table_find(const int32_t* keys, int64_t capacity, int32_t id) {
  const int64_t mask = capacity - 1;
  int64_t slot = static_cast<int64_t>(hash_instance_id(id)) & mask;
  while (true) {
    const int32_t key = keys[slot];
    if (key == id) {
      return slot;
    }
    if (key == kEmptySlot) {
      return -1;
    }
    slot = (slot + 1) & mask;
  }
}

// Bump allocation of the arrays of a workspace inside one caller-owned byte buffer. With a
// null base it only measures: offset() is then the number of bytes needed.
class WorkspaceLayout {
 public:
  explicit WorkspaceLayout(void* base) : base_(static_cast<char*>(base)) {}

  template <typename T>
  T* take(int64_t count) {
    offset_ = (offset_ + 15) / 16 * 16;
    T* array = base_ ? reinterpret_cast<T*>(base_ + offset_) : nullptr;
    offset_ += count * static_cast<int64_t>(sizeof(T));
    return array;
  }
  int64_t offset() const { return offset_; }

 private:
  char* base_;
  int64_t offset_ = 0;
};

// True (and nothing reported) when `value` is a valid instance id.
template <typename Id>
P2PHD_HD bool instance_id_valid(Id value, int64_t* status, int64_t code) {
  const int64_t id = static_cast<int64_t>(value);
  if (id < 0 || id > kMaxInstanceId) {
    report_error(status, code, id);
    return false;
  }
  return true;
}

}  // namespace p2phd
