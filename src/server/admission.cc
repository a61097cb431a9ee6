// Admission: the in-flight and queue limits on running handlers.
#include "server/admission.h"

#include <utility>

namespace sextant::server {

Limiter::Slot::Slot(Slot&& other) noexcept : limiter_(std::exchange(other.limiter_, nullptr)) {}

Limiter::Slot& Limiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (limiter_) limiter_->Release();
    limiter_ = std::exchange(other.limiter_, nullptr);
  }
  return *this;
}

Limiter::Slot::~Slot() {
  if (limiter_) limiter_->Release();
}

Limiter::Outcome Limiter::Acquire(std::chrono::milliseconds timeout, Slot* slot) {
  std::unique_lock lock(mu_);
  if (active_ >= max_inflight_) {
    if (waiting_ >= max_queue_) return Outcome::kQueueFull;
    ++waiting_;
    const bool got = cv_.wait_for(lock, timeout, [&] { return active_ < max_inflight_; });
    --waiting_;
    if (!got) return Outcome::kTimeout;
  }
  ++active_;
  lock.unlock();  // assigning releases a turn `*slot` may already hold
  *slot = Slot(this);
  return Outcome::kAdmitted;
}

void Limiter::Release() {
  {
    std::lock_guard lock(mu_);
    --active_;
  }
  cv_.notify_one();
}

}  // namespace sextant::server
