// SearchPool: a few threads, shared by every collection in the process, that let one query
// search several segments at once (Qdrant and Milvus do the same), so a collection left with
// several sealed segments answers a single client about as fast as when merged.
//
// RunAll(n, fn) calls fn(0) .. fn(n-1), on the calling thread and on idle pool threads, and
// returns when all have finished; the caller always takes part, so a busy or empty pool only
// means the calls run one after another on it. Thread-safety: any thread may call RunAll.
#pragma once

#include <cstddef>
#include <functional>

namespace sextant::engine {

class SearchPool {
 public:
  // The process-wide pool: hardware_concurrency() - 1 threads (at most 7, none on one core).
  static SearchPool& Shared();
  void RunAll(size_t n, const std::function<void(size_t)>& fn);
  size_t threads() const;

  struct State;

 private:
  SearchPool() = default;
  State* state_ = nullptr;
};

}  // namespace sextant::engine
