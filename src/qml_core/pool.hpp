// Row-parallel work shared among the calling thread and the core's helper threads.
#pragma once

#include <cstddef>
#include <functional>

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

}  // namespace qml
