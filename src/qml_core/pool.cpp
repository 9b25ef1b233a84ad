#include "pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels.hpp"

namespace qml {
namespace {

using Body = std::function<void(std::size_t, int)>;

// After a job a helper polls for the next one this long before it sleeps, so that
// calls a few milliseconds apart (a training loop) find it awake.
constexpr auto kSpin = std::chrono::microseconds(1000);

class Pool {
 public:
  void run(std::size_t count, const Body& body) {
    const int helpers = static_cast<int>(
        std::min<std::size_t>(count > 0 ? count - 1 : 0, std::size_t(thread_count() - 1)));
    // One job at a time: a second caller (another Python thread) runs alone.
    std::unique_lock<std::mutex> job(job_mutex_, std::try_to_lock);
    if (helpers <= 0 || !job.owns_lock()) {
      for (std::size_t k = 0; k < count; ++k) body(k, 0);
      return;
    }
    start_helpers(helpers);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      count_ = count;
      wanted_ = helpers;
      next_.store(0, std::memory_order_relaxed);
      open_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (std::size_t k; (k = next_.fetch_add(1, std::memory_order_relaxed)) < count;)
      body(k, 0);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = false;  // helpers that have not joined yet stay out
    }
    // What is left is at most one item per helper: poll rather than sleep, since a
    // sleeping caller's processor may be slow to wake.
    while (active_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
  }

 private:
  void start_helpers(int helpers) {
    std::lock_guard<std::mutex> lock(mutex_);
    while (started_ < helpers) {
      const int slot = ++started_;
      // Detached, and the pool is never destroyed: helpers sleep until the process ends.
      std::thread([this, slot] { serve(slot); }).detach();
    }
  }

  void serve(int slot) {
    std::uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      const auto until = std::chrono::steady_clock::now() + kSpin;
      while (generation_.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_relaxed) != seen; });
      seen = generation_.load(std::memory_order_relaxed);
      if (!open_ || slot > wanted_) continue;
      const Body& body = *body_;
      const std::size_t count = count_;
      active_.fetch_add(1, std::memory_order_relaxed);
      lock.unlock();
      for (std::size_t k; (k = next_.fetch_add(1, std::memory_order_relaxed)) < count;)
        body(k, slot);
      active_.fetch_sub(1, std::memory_order_release);
    }
  }

  std::mutex job_mutex_;
  std::mutex mutex_;  // guards the job's fields below, and generation_'s changes
  std::condition_variable wake_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> next_{0};
  const Body* body_ = nullptr;
  std::size_t count_ = 0;
  bool open_ = false;
  std::atomic<int> active_{0};  // helpers inside the job (they join under mutex_)
  int wanted_ = 0, started_ = 0;
};

}  // namespace

void share_rows(std::size_t count, const Body& body) {
  static Pool* pool = new Pool;  // never destroyed (see Pool::start_helpers)
  pool->run(count, body);
}

}  // namespace qml
