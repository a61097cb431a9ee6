// Micro benchmarks of the hot distance kernels: Reference() against Best() at common
// embedding sizes (128: SIFT, 784: MNIST, 1536: OpenAI embeddings).
//
//   ./sextant_distance_bench --benchmark_filter=784
// SEXTANT_ISA=avx2 (etc.) changes what "best" means for a run.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "simd/distance.h"

namespace sextant::simd {
namespace {

const Kernels& Table(bool best) { return best ? Best() : Reference(); }

// Fixed-seed inputs; two vectors are small enough to stay in L1, so this measures compute.
template <class T>
std::vector<T> RandomVector(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<T> v(n);
  for (T& x : v) {
    if constexpr (std::is_same_v<T, float>) {
      x = std::uniform_real_distribution<float>(-1.0f, 1.0f)(gen);
    } else if constexpr (std::is_same_v<T, uint16_t>) {
      x = FloatToHalf(std::uniform_real_distribution<float>(-1.0f, 1.0f)(gen));
    } else {
      x = static_cast<T>(gen());
    }
  }
  return v;
}

template <class T, class Result>
void RunKernel(benchmark::State& state, bool best,
               Result (*Kernels::*kernel)(const T*, const T*, size_t)) {
  const size_t n = static_cast<size_t>(state.range(0));
  const std::vector<T> a = RandomVector<T>(n, 1), b = RandomVector<T>(n, 2);
  const auto fn = Table(best).*kernel;
  for (auto _ : state) {
    benchmark::DoNotOptimize(fn(a.data(), b.data(), n));
  }
  state.SetLabel(Table(best).isa);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

void BM_L2sqF32(benchmark::State& state, bool best) { RunKernel(state, best, &Kernels::l2sq_f32); }
void BM_IpF32(benchmark::State& state, bool best) { RunKernel(state, best, &Kernels::ip_f32); }
void BM_L2sqU8(benchmark::State& state, bool best) { RunKernel(state, best, &Kernels::l2sq_u8); }
void BM_L2sqF16(benchmark::State& state, bool best) { RunKernel(state, best, &Kernels::l2sq_f16); }

#define SEXTANT_DISTANCE_BENCH(fn)                                        \
  BENCHMARK_CAPTURE(fn, reference, false)->Arg(128)->Arg(784)->Arg(1536); \
  BENCHMARK_CAPTURE(fn, best, true)->Arg(128)->Arg(784)->Arg(1536)

SEXTANT_DISTANCE_BENCH(BM_L2sqF32);
SEXTANT_DISTANCE_BENCH(BM_IpF32);
SEXTANT_DISTANCE_BENCH(BM_L2sqU8);
SEXTANT_DISTANCE_BENCH(BM_L2sqF16);

}  // namespace
}  // namespace sextant::simd

BENCHMARK_MAIN();
