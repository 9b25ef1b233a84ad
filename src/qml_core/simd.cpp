// Picks the kernel build for this processor at run time, and the core's thread count.
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

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

// Every build this processor can run, fastest first.
std::vector<const Kernels*> runnable() {
  std::vector<const Kernels*> builds;
#ifdef QML_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
    builds.push_back(&avx512::kernels);
#endif
#ifdef QML_HAVE_AVX2
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    builds.push_back(&avx2::kernels);
#endif
  builds.push_back(&portable::kernels);
  return builds;
}

std::atomic<const Kernels*>& chosen_kernels() {
  static std::atomic<const Kernels*> chosen{runnable().front()};
  return chosen;
}
}  // namespace

int thread_count() {
  const int chosen = threads.load(std::memory_order_relaxed);
  if (chosen > 0) return chosen;
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return std::max(1, int(std::thread::hardware_concurrency()));
#endif
}

void set_thread_count(int count) { threads.store(count, std::memory_order_relaxed); }

const Kernels& host_kernels() { return *chosen_kernels().load(std::memory_order_relaxed); }

std::vector<std::string> runnable_kernels() {
  std::vector<std::string> names;
  for (const Kernels* build : runnable()) names.emplace_back(build->name);
  return names;
}

bool use_kernels(const std::string& name) {
  for (const Kernels* build : runnable())
    if (name == build->name) {
      chosen_kernels().store(build, std::memory_order_relaxed);
      return true;
    }
  return false;
}

const char* threading() {
#ifdef _OPENMP
  return "openmp";
#else
  return "core threads";
#endif
}

}  // namespace qml
