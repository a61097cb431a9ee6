// AVX-512 BERT kernels (this file is compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// and the AVX2 flags). Everything has internal linkage except Avx512Kernels(); only intrinsics
// are used (see bert_kernels_internal.h).

#include "common/avx512_intrinsics.h"  // <immintrin.h> without GCC 12's false warnings

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
