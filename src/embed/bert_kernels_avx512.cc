// AVX-512 BERT kernels (this file is compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// and the AVX2 flags). Everything has internal linkage except Avx512Kernels(); only intrinsics
// are used (see bert_kernels_internal.h).

// GCC 12's AVX-512 headers set up their "undefined" vectors in a way that trips
// -Wuninitialized (GCC bug 105593); the pragmas keep those false positives out of our build.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstddef>
#include <cstdint>

#include "embed/bert_kernels_internal.h"

namespace sextant::embed::kernels {
namespace {

#include "embed/bert_kernels_avx512_prims.inc"
#include "embed/bert_kernels_impl.inc"

constexpr BertKernels kAvx512 = {"avx512", VecBiasGelu, VecAddBias, VecAddLayerNorm, VecSoftmax, VecErf, VecExp};

}  // namespace

const BertKernels& Avx512Kernels() { return kAvx512; }

}  // namespace sextant::embed::kernels
