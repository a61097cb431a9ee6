#include "engine/search_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace sextant::engine {
namespace {

// Every item runs exactly once, whatever the pool's size, from several callers at once, and
// RunAll returns only when all of its items have finished.
TEST(SearchPoolTest, EveryItemRunsOnceAndRunAllWaitsForThem) {
  SearchPool& pool = SearchPool::Shared();
  EXPECT_EQ(pool.threads(), std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()) - 1, 7));
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (size_t n : {0, 1, 2, 3, 7, 40}) {
        for (int rep = 0; rep < 25; ++rep) {
          std::vector<std::atomic<int>> hits(n);
          std::atomic<int> finished{0};
          pool.RunAll(n, [&](size_t i) {
            if (i % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50 + 10 * c));
            hits[i].fetch_add(1);
            finished.fetch_add(1);
          });
          if (finished.load() != static_cast<int>(n)) failures.fetch_add(1);
          for (auto& h : hits) {
            if (h.load() != 1) failures.fetch_add(1);
          }
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// Items may run on other threads (when the machine has more than one core), and the caller
// always runs some itself.
TEST(SearchPoolTest, TheCallerTakesPart) {
  const auto me = std::this_thread::get_id();
  std::mutex mu;
  std::set<std::thread::id> seen;
  SearchPool::Shared().RunAll(64, [&](size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard<std::mutex> l(mu);
    seen.insert(std::this_thread::get_id());
  });
  EXPECT_TRUE(seen.count(me));
  if (SearchPool::Shared().threads() > 0) {
    EXPECT_GE(seen.size(), 2u);
  }
}

}  // namespace
}  // namespace sextant::engine
