// Picks the kernel build for this processor at run time.
#include <atomic>
#include <omp.h>

#include "kernels.hpp"

namespace qml {
namespace portable { extern const Kernels kernels; }
#ifdef QML_HAVE_AVX2
namespace avx2 { extern const Kernels kernels; }
#endif
#ifdef QML_HAVE_AVX512
namespace avx512 { extern const Kernels kernels; }
#endif

namespace {
std::atomic<int> threads{0};
}

int thread_count() {
  const int chosen = threads.load(std::memory_order_relaxed);
  return chosen > 0 ? chosen : omp_get_num_procs();
}

void set_thread_count(int count) { threads.store(count, std::memory_order_relaxed); }

const Kernels& host_kernels() {
  static const Kernels& chosen = []() -> const Kernels& {
#ifdef QML_HAVE_AVX512
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
      return avx512::kernels;
#endif
#ifdef QML_HAVE_AVX2
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2::kernels;
#endif
    return portable::kernels;
  }();
  return chosen;
}

}  // namespace qml
