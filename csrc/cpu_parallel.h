// SPDX-License-Identifier: Apache-2.0
// Multi-core CPU loops: OpenMP when the build found it, serial otherwise. The binding sets the
// thread count of the calling thread for one op (CpuThreads); the CPU loops split their work
// with parallel_for and need no thread argument of their own.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(_OPENMP) && defined(__unix__)
#include <pthread.h>
#endif

namespace p2phd {

// The largest `threads=` an op accepts: more would only add scheduling overhead.
constexpr int64_t kMaxCpuThreads = 1024;

inline int& cpu_thread_slot() {
  thread_local int threads = 1;
  return threads;
}

// The number of threads the CPU loops of the current op may use.
inline int cpu_threads() { return cpu_thread_slot(); }

// Sets the current thread's op thread count for its lifetime.
class CpuThreads {
 public:
  explicit CpuThreads(int threads) : previous_(cpu_thread_slot()) { cpu_thread_slot() = threads; }
  ~CpuThreads() { cpu_thread_slot() = previous_; }
  CpuThreads(const CpuThreads&) = delete;
  CpuThreads& operator=(const CpuThreads&) = delete;

 private:
  int previous_;
};

// GNU OpenMP's thread pool does not survive fork(): a child forked after its parent ran a
// parallel region hangs in its first one (torch's own loops do too). Such a child runs the
// loops serially instead; register_fork_handler installs the check once per process.
inline std::atomic<bool>& parallel_region_started() {
  static std::atomic<bool> started{false};
  return started;
}

inline std::atomic<bool>& serial_after_fork() {
  static std::atomic<bool> serial{false};
  return serial;
}

inline void register_fork_handler() {
#if defined(_OPENMP) && defined(__unix__)
  pthread_atfork(nullptr, nullptr, [] {
    if (parallel_region_started().load()) {
      serial_after_fork().store(true);
    }
  });
#endif
}

// Calls body(begin, end) on disjoint ranges covering [0, count), one contiguous range per
// thread. Work below `grain` items per thread runs on fewer threads (the fork costs more
// than it saves). An exception thrown by a body is rethrown here after all threads joined.
template <typename Body>
void parallel_for(int64_t count, int64_t grain, Body&& body) {
  if (count <= 0) {
    return;
  }
  int64_t threads = cpu_threads();
  const int64_t useful = grain > 0 ? (count + grain - 1) / grain : count;
  threads = threads < useful ? threads : useful;
#if defined(_OPENMP)
  if (threads > 1 && !serial_after_fork().load(std::memory_order_relaxed)) {
    parallel_region_started().store(true, std::memory_order_relaxed);
    std::exception_ptr error;
#pragma omp parallel num_threads(static_cast<int>(threads))
    {
      const int64_t parts = omp_get_num_threads();
      const int64_t part = omp_get_thread_num();
      const int64_t begin = count / parts * part + (part < count % parts ? part : count % parts);
      const int64_t size = count / parts + (part < count % parts ? 1 : 0);
      try {
        body(begin, begin + size);
      } catch (...) {
#pragma omp critical(p2phd_parallel_error)
        if (!error) {
          error = std::current_exception();
        }
      }
    }
    if (error) {
      std::rethrow_exception(error);
    }
    return;
  }
#endif
  body(int64_t{0}, count);
}

}  // namespace p2phd
