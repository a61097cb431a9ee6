#include "engine/search_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sextant::engine {
namespace {

// How long a thread keeps looking before it sleeps: a segment search takes tens to hundreds of
// microseconds, and waking a sleeping thread costs about as much, so both the pool's threads
// (between queries) and a caller (for the last segments of its query) spin this long first.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// One RunAll call: its items are claimed one at a time by whoever is free.
struct Job {
  const std::function<void(size_t)>* fn = nullptr;
  size_t n = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex mu;
  std::condition_variable finished;

  void Work() {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      (*fn)(i);
      if (done.fetch_add(1) + 1 == n) {
        std::lock_guard<std::mutex> l(mu);  // pairs with the caller's wait
        finished.notify_all();
      }
    }
  }
};

}  // namespace

struct SearchPool::State {
  std::mutex mu;
  std::condition_variable wake;
  std::deque<std::shared_ptr<Job>> jobs;  // offered to idle threads (guarded by mu)
  std::atomic<size_t> offered{0};         // jobs.size(), readable without the lock
  size_t sleeping = 0;                    // threads waiting on `wake` (guarded by mu)
  std::vector<std::thread> threads;

  // Takes the first offered job with unclaimed items (dropping exhausted ones), or null.
  std::shared_ptr<Job> Take() {
    std::lock_guard<std::mutex> l(mu);
    while (!jobs.empty()) {
      std::shared_ptr<Job> job = jobs.front();
      if (job->next.load() < job->n) return job;
      jobs.pop_front();
      offered.store(jobs.size());
    }
    return nullptr;
  }

  void Loop() {
    for (;;) {
      // Look for work for a while before sleeping.
      const auto until = std::chrono::steady_clock::now() + kSpin;
      std::shared_ptr<Job> job;
      while (!(job = offered.load() > 0 ? Take() : nullptr) && std::chrono::steady_clock::now() < until) {
        CpuRelax();
      }
      if (!job) {
        std::unique_lock<std::mutex> l(mu);
        ++sleeping;
        wake.wait(l, [&] { return !jobs.empty(); });
        --sleeping;
        continue;
      }
      job->Work();
    }
  }
};

SearchPool& SearchPool::Shared() {
  // Never destroyed: its threads wait for work until the process ends.
  static SearchPool* pool = [] {
    auto* p = new SearchPool();
    p->state_ = new State();
    const size_t hw = std::max(1u, std::thread::hardware_concurrency());
    const size_t n = std::min<size_t>(hw - 1, 7);
    for (size_t i = 0; i < n; ++i) {
      p->state_->threads.emplace_back([s = p->state_] { s->Loop(); });
      p->state_->threads.back().detach();
    }
    return p;
  }();
  return *pool;
}

size_t SearchPool::threads() const { return state_->threads.size(); }

void SearchPool::RunAll(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n == 1 || state_->threads.empty()) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  bool notify;
  {
    std::lock_guard<std::mutex> l(state_->mu);
    state_->jobs.push_back(job);
    state_->offered.store(state_->jobs.size());
    notify = state_->sleeping > 0;
  }
  if (notify) state_->wake.notify_all();
  job->Work();
  // The items other threads took: spin a little, then sleep until the last one finishes.
  const auto until = std::chrono::steady_clock::now() + kSpin;
  while (job->done.load() < n && std::chrono::steady_clock::now() < until) CpuRelax();
  if (job->done.load() < n) {
    std::unique_lock<std::mutex> l(job->mu);
    job->finished.wait(l, [&] { return job->done.load() == n; });
  }
  // Withdraw it if no pool thread came by (every item has run).
  std::lock_guard<std::mutex> l(state_->mu);
  auto it = std::find(state_->jobs.begin(), state_->jobs.end(), job);
  if (it != state_->jobs.end()) {
    state_->jobs.erase(it);
    state_->offered.store(state_->jobs.size());
  }
}

}  // namespace sextant::engine
