#include "engine/search_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sextant::engine {

// One RunAll call: its items are claimed one at a time by whoever is free.
struct Job {
  const std::function<void(size_t)>* fn;
  size_t n;
  std::atomic<size_t> next{0};
  size_t done = 0;  // guarded by mu
  std::mutex mu;
  std::condition_variable finished;

  // Runs items until none is left; returns how many this thread ran.
  void Work() {
    size_t ran = 0;
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      (*fn)(i);
      ++ran;
    }
    if (ran == 0) return;
    std::lock_guard<std::mutex> l(mu);
    done += ran;
    if (done == n) finished.notify_all();
  }
};

struct SearchPool::State {
  std::mutex mu;
  std::condition_variable wake;
  std::deque<std::shared_ptr<Job>> jobs;  // offered to idle threads
  std::vector<std::thread> threads;

  void Loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> l(mu);
        wake.wait(l, [&] { return !jobs.empty(); });
        job = jobs.front();
        // A job stays offered while it has unclaimed items; the last taker removes it.
        if (job->next.load() + 1 >= job->n) jobs.pop_front();
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
  {
    std::lock_guard<std::mutex> l(state_->mu);
    state_->jobs.push_back(job);
  }
  state_->wake.notify_all();
  job->Work();
  {
    std::unique_lock<std::mutex> l(job->mu);
    job->finished.wait(l, [&] { return job->done == n; });
  }
  // Still offered if no pool thread came by: withdraw it (every item has run).
  std::lock_guard<std::mutex> l(state_->mu);
  auto it = std::find(state_->jobs.begin(), state_->jobs.end(), job);
  if (it != state_->jobs.end()) state_->jobs.erase(it);
}

}  // namespace sextant::engine
