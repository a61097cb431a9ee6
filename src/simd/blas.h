// OpenBLAS's thread count, held at one while Sextant's own threads call it.
#pragma once

namespace sextant::simd {

// While any instance lives, OpenBLAS runs single-threaded (its thread count is process-wide):
// for callers that run their own threads, each calling sgemm on its own block (the BERT
// encoder's batches, PQ's sub-spaces). Its threads would only compete with theirs: PQ training
// took two to three times as long with them on two cores. The count in force before the first
// instance is restored when the last one ends. Safe to nest and to hold from several threads.
class BlasSingleThreaded {
 public:
  BlasSingleThreaded();
  ~BlasSingleThreaded();
  BlasSingleThreaded(const BlasSingleThreaded&) = delete;
  BlasSingleThreaded& operator=(const BlasSingleThreaded&) = delete;
};

}  // namespace sextant::simd
