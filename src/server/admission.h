// Admission: at most max_inflight requests run their handlers at once and at most max_queue
// wait for a turn; the rest are turned away (the server answers 429, or 503 after a wait).
//
// Thread-safety: Acquire may be called from many threads at once; a Slot is released on the
// thread that destroys it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace sextant::server {

class Limiter {
 public:
  enum class Outcome { kAdmitted, kQueueFull, kTimeout };

  // A turn to run a handler, held until the Slot is destroyed (an empty Slot holds none).
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    ~Slot();

   private:
    friend class Limiter;
    explicit Slot(Limiter* limiter) : limiter_(limiter) {}
    Limiter* limiter_ = nullptr;
  };

  Limiter(size_t max_inflight, size_t max_queue) : max_inflight_(max_inflight), max_queue_(max_queue) {}

  // Takes a turn at once, or waits up to `timeout` for one unless max_queue requests are
  // already waiting. On kAdmitted `*slot` holds the turn; otherwise it is left as it was.
  Outcome Acquire(std::chrono::milliseconds timeout, Slot* slot);

 private:
  void Release();

  const size_t max_inflight_, max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t active_ = 0, waiting_ = 0;  // guarded by mu_
};

}  // namespace sextant::server
