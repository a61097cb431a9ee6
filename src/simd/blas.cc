#include "simd/blas.h"

#include <cblas.h>

#include <mutex>

namespace sextant::simd {
namespace {

std::mutex mu;
int active = 0;
int saved = 1;

}  // namespace

BlasSingleThreaded::BlasSingleThreaded() {
  std::lock_guard<std::mutex> lock(mu);
  if (active++ == 0) {
    saved = openblas_get_num_threads();
    if (saved != 1) openblas_set_num_threads(1);
  }
}

BlasSingleThreaded::~BlasSingleThreaded() {
  std::lock_guard<std::mutex> lock(mu);
  if (--active == 0 && saved != 1) openblas_set_num_threads(saved);
}

}  // namespace sextant::simd
