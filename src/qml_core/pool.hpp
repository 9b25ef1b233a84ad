// Row-parallel work shared among the calling thread and the core's helper threads.
#pragma once

#include <cstddef>
#include <functional>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace qml {

// Runs body(k, slot) for every k in [0, count) and returns when all have run.
//
// The calling thread takes items itself, and helper threads (slots 1 to
// thread_count() - 1) join while items are left. A helper that wakes late finds
// nothing to do and the caller does not wait for it: on a machine whose idle
// processors wake slowly (virtual machines, or processors busy with other work) a
// barrier that waits for every thread, as an OpenMP parallel region's does, can cost
// milliseconds on a call that computes for one. `slot` is the same for all items one
// thread runs in a call, so per-slot buffers need no locks. body must not throw.
//
// Example:
//   std::vector<double> out(n);
//   share_rows(n, [&](std::size_t k, int) { out[k] = work(k); });
void share_rows(std::size_t count, const std::function<void(std::size_t, int)>& body);

// Runs body(k) for every chunk k in [0, chunks), in parallel, and returns when all
// have run. A chunk's number, not the thread that runs it, tells body its share of
// the work, so sums split by chunk come out the same on every call. With OpenMP the
// chunks run in one parallel region (threads inside a gate, where every thread has
// work); without it, on the core's own threads (share_rows).
//
// Example:
//   std::vector<double> sums(chunks);
//   parallel_chunks(chunks, [&](int k) { sums[k] = sum_of_share(k); });
template <class Body>
void parallel_chunks(int chunks, Body body) {
#ifdef _OPENMP
#pragma omp parallel num_threads(chunks)
  {
    const int count = omp_get_num_threads();
    for (int k = omp_get_thread_num(); k < chunks; k += count) body(k);
  }
#else
  share_rows(std::size_t(chunks), [&](std::size_t k, int) { body(int(k)); });
#endif
}

}  // namespace qml
