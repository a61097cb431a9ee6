// Runtime choice of the kernel table. Compiled without ISA flags, so it runs on any CPU of the
// architecture and only calls into a variant after checking that the CPU supports it.

#include <cstdlib>
#include <cstring>
#include <vector>

#include "simd/distance.h"
#include "simd/internal.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define SEXTANT_SIMD_X86 1
#elif defined(__aarch64__)
#define SEXTANT_SIMD_NEON 1
#endif

namespace sextant::simd {
namespace {

#if defined(SEXTANT_SIMD_X86)
// __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state.
bool CpuRunsAvx2() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("popcnt")) {
    return false;
  }
  // F16C via CPUID leaf 1 (ECX bit 29): not every compiler's __builtin_cpu_supports knows it.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

// distance_avx512.cc is compiled with F, BW, VL and DQ (plus the AVX2 flags), so the compiler
// may use any of them there: require them all.
bool CpuRunsAvx512() {
  __builtin_cpu_init();
  return CpuRunsAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#endif

}  // namespace

std::vector<const Kernels*> Available() {
  // Ordered slowest to fastest, so the last entry is the default choice.
  std::vector<const Kernels*> tables = {&Reference()};
#if defined(SEXTANT_SIMD_X86)
  if (CpuRunsAvx2()) tables.push_back(&Avx2Kernels());
  if (CpuRunsAvx512()) tables.push_back(&Avx512Kernels());
#elif defined(SEXTANT_SIMD_NEON)
  tables.push_back(&NeonKernels());  // Advanced SIMD is mandatory on AArch64.
#endif
  return tables;
}

const Kernels& ChooseKernels(const char* requested_isa) {
  const std::vector<const Kernels*> tables = Available();
  if (requested_isa != nullptr && requested_isa[0] != '\0') {
    for (const Kernels* table : tables) {
      if (std::strcmp(table->isa, requested_isa) == 0) return *table;
    }
    // Unknown or unsupported request: fall back silently to the default.
  }
  return *tables.back();
}

const Kernels& Best() {
  // A function-local static is initialised exactly once, thread-safely (C++11 magic statics).
  static const Kernels& best = ChooseKernels(std::getenv("SEXTANT_ISA"));
  return best;
}

}  // namespace sextant::simd
